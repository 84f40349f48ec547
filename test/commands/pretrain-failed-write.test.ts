/**
 * `digits pretrain` (the built CLI) whose write fails after it saved epochs, on something the
 * user can put right (a full disk; here, for real and without root, a folder put where its
 * sessions.json is rewritten each epoch): the hint names the `--resume` command, as Ctrl-C's does.
 * Running the same command again would start from epoch 1 over the saved epochs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { pretrainWorkDir } from '../../src/services/pretrain.js';
import { PRETRAIN_SESSIONS_FILE } from '../../src/training/pretrain.js';
import { removeTempDirs, tempDir } from '../data/helpers.js';
import { repoRoot } from '../helpers/run-command.js';

const bin = path.join(repoRoot, 'bin/run.js');
const env = { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' };
afterAll(removeTempDirs);

test('a pretraining with saved epochs that fails on a fixable write error names --resume in its hint', { timeout: 300_000 }, async () => {
  const work = await tempDir('digits-pretrain-write-');
  const out = path.join(work, 'ck', 'p2');
  const workDir = pretrainWorkDir(path.join(work, 'ck', '.digits'), out, 'mlp', false);
  const sessions = path.join(workDir, PRETRAIN_SESSIONS_FILE);
  const argv = ['pretrain', '--preset', 'mlp', '--limit', '1200', '--epochs', '3', '--out', 'ck/p2'];
  const child = spawn(process.execPath, [bin, ...argv, '--json'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // Given a pretraining whose sessions.json becomes a folder once its first epoch is saved (its next write fails: EISDIR)
  let broken = false;
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    if (broken || !stdout.includes('"type":"epoch"')) return;
    broken = true;
    // (a write of the epoch's own record landing between rm and mkdir is moved aside again)
    for (;;) {
      rmSync(sessions, { recursive: true, force: true });
      try {
        mkdirSync(sessions);
        break;
      } catch {
        // written again meanwhile
      }
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const last = JSON.parse(stdout.trim().split('\n').at(-1) || '{}') as { type?: string; error?: string; hint?: string };
  // Then it ends with the error the user can put right (exit 2), its saved epochs kept, and a hint that names --resume
  expect(code, `${stdout}\n${stderr}`).toBe(2);
  expect(existsSync(path.join(workDir, 'last'))).toBe(true);
  expect(last).toMatchObject({ type: 'error', error: `cannot write ${sessions}: it is a folder, not a file (in the pretraining's work folder, kept beside --out until it ends)` });
  expect(last.hint).toBe(`Move that folder aside (or point the command at another place), then continue it with \`digits pretrain ${argv.slice(1).join(' ')} --json --resume\`: it goes on from its last finished epoch (without --resume it would start again from epoch 1).`);
});
