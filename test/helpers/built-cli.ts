/**
 * The built CLI (bin/run.js) as a user runs it, for tests of whole commands: to its end, or
 * killed outright while a member trains; and a real way to make a member fail on `--resume`.
 */
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { repoRoot } from './run-command.js';

const bin = path.join(repoRoot, 'bin/run.js');
const env = { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' };

export type JsonLine = Record<string, unknown>;

/** `digits <argv>` in `cwd` to its end, with `input` on stdin: exit code, stdout, its lines (parsed under --json) and stderr. */
export function runBuilt(argv: string[], cwd: string, input = ''): Promise<{ code: number; stdout: string; lines: JsonLine[]; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...argv], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => {
      const lines = argv.includes('--json') ? stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as JsonLine) : [];
      resolve({ code: code ?? -1, stdout, lines, stderr });
    });
    child.stdin.end(input);
  });
}

/** Starts `digits <argv> --json` in `cwd` and kills it outright (SIGKILL, a machine that dies) once `member` has finished an epoch. */
export async function killWhenTrained(argv: string[], cwd: string, member: string): Promise<void> {
  const child = spawn(process.execPath, [bin, ...argv, '--json'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
  const trained = () => stdout.split('\n').some((l) => /"type":"epoch"/.test(l) && l.includes(`"member":${JSON.stringify(member)}`));
  while (child.exitCode === null && !trained()) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  expect(await exited, `${stdout}\n${stderr}`).toBe('SIGKILL');
}

/** Puts a file where a member's folder is: its worker's mkdir fails (EEXIST) when the run is resumed. */
export async function breakMember(runDir: string, name: string): Promise<void> {
  await rm(path.join(runDir, name), { recursive: true, force: true });
  await writeFile(path.join(runDir, name), 'not a folder\n');
}
