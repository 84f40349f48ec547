/**
 * The pretrain service: each output checkpoint has a work folder of its own, so two
 * pretrainings of one preset run side by side without overwriting each other's best/ (they
 * shared `.digits/pretrain/<preset>` before); a second pretraining into the same output is
 * refused while the first holds it.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { readCheckpointMetadata } from '../../src/model/checkpoint.js';
import { lockRun } from '../../src/runs/lock.js';
import { PACKAGE_ROOT, resolveInit } from '../../src/model/shipped.js';
import { resolveEnsemble } from '../../src/ensemble/ensemble-spec.js';
import { pretrainCheckpoint, pretrainWorkDir, type PretrainServiceOptions } from '../../src/services/pretrain.js';

let root: string;
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-pretrain-service-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const options = (name: string, seed: number): PretrainServiceOptions => ({
  preset: 'mlp',
  epochs: 2,
  learningRate: 1e-3,
  batchSize: 50,
  limit: 600,
  seed,
  holdoutSeed: 1,
  outDir: path.join(root, 'checkpoints', name),
  workRoot: path.join(root, '.digits'),
  command: `test ${name}`,
});

describe('pretrain service', () => {
  test('the work folder follows the output (however it is spelt) and the kind', () => {
    const cwd = process.cwd();
    const a = pretrainWorkDir('.digits', 'checkpoints/mnist-clean/seed002-2', 'seed002', false);
    expect(pretrainWorkDir('.digits', path.join(cwd, 'checkpoints/mnist-clean/seed002-2'), 'seed002', false)).toBe(a);
    expect(pretrainWorkDir('.digits', 'checkpoints/mnist-clean/seed002-3', 'seed002', false)).not.toBe(a);
    expect(pretrainWorkDir('.digits', 'checkpoints/mnist-clean/seed002-2', 'seed002', true)).not.toBe(a);
    expect(a.startsWith(path.join(cwd, '.digits', 'pretrain', 'seed002', 'seed002-2-'))).toBe(true);
  });

  test('two pretrainings of one preset side by side each keep their own best weights', async () => {
    // Given two pretrainings of the same preset into two outputs, started together
    const [a, b] = await Promise.all([pretrainCheckpoint(options('a', 11)), pretrainCheckpoint(options('b', 12))]);
    // Then each trained in its own work folder and wrote its own network
    expect(a.workDir).not.toBe(b.workDir);
    const [wa, wb] = await Promise.all([a, b].map((r) => readFile(path.join(r.checkpoint, 'weights.bin'))));
    expect(wa!.equals(wb!)).toBe(false);
    // And each output's metadata is its own run's (seed, best validation loss)
    for (const [r, seed] of [[a, 11], [b, 12]] as const) {
      const meta = await readCheckpointMetadata(r.checkpoint);
      expect(meta.seed).toBe(seed);
      expect(meta.metrics.valLoss).toBeCloseTo(r.valLoss, 10);
      const best = await readCheckpointMetadata(path.join(r.workDir, 'best'));
      expect(best.hyperparameters).toMatchObject({ seed });
    }
    // --resume of a finished pretraining, or of one that never ran, is refused (it started over in silence)
    const weights = await readFile(path.join(a.checkpoint, 'weights.bin'));
    await expect(pretrainCheckpoint({ ...options('a', 11), resume: true })).rejects.toMatchObject({ message: `the pretraining into ${a.checkpoint} finished: nothing to resume`, where: { flag: 'resume' } });
    expect((await readFile(path.join(a.checkpoint, 'weights.bin'))).equals(weights)).toBe(true);
    await expect(pretrainCheckpoint({ ...options('never', 13), resume: true })).rejects.toMatchObject({ message: expect.stringMatching(/^nothing to resume: no interrupted pretraining into /), hint: 'Drop --resume to start it.' });
  }, 120_000);

  test('each epoch is on disk, time and all, when it is reported (a Ctrl-C right after it left a temp file and lost the time)', async () => {
    // Given a pretraining whose events we watch
    const opts = options('synced', 18);
    const workDir = pretrainWorkDir(opts.workRoot, opts.outDir, opts.preset, false);
    const sessions = path.join(workDir, 'sessions.json');
    let atStart = 0;
    const seen: Array<{ rewritten: boolean; temps: string[] }> = [];
    await pretrainCheckpoint({
      ...opts,
      onEvent: (event) => {
        if (event.type === 'start') atStart = statSync(sessions).mtimeMs;
        // Then when an epoch is reported, its sessions.json has been written already (a signal
        // then ends the process between whole writes), and no temp file of it is left
        if (event.type === 'epoch') seen.push({ rewritten: statSync(sessions).mtimeMs > atStart, temps: readdirSync(workDir).filter((f) => f.includes('.tmp-')) });
      },
    });
    expect(seen).toEqual([{ rewritten: true, temps: [] }, { rewritten: true, temps: [] }]);
  }, 60_000);

  test('an output inside a run folder is refused without --force (it replaced a trained member in silence)', async () => {
    // Given a run folder with a member's network in it
    const run = path.join(root, 'runs', 'r1');
    const best = path.join(run, 'mlp-1', 'best');
    await mkdir(best, { recursive: true });
    await writeFile(path.join(run, 'run.json'), '{}\n');
    await writeFile(path.join(best, 'weights.bin'), 'the member');
    // When a pretraining is pointed at that member's checkpoint
    const opts = { ...options('x', 19), epochs: 1, limit: 200, outDir: best, workRoot: path.join(root, 'runs', 'work') };
    await expect(pretrainCheckpoint(opts)).rejects.toMatchObject({
      message: `${best} is inside the run folder ${run}: this pretraining would put an MNIST network in the place of what the run trained`,
      where: { flag: 'out' },
      hint: 'Give another --out (e.g. --out checkpoints/mine/mlp), or add --force to replace it anyway.',
    });
    // Then nothing was touched, and no work folder made
    expect(await readFile(path.join(best, 'weights.bin'), 'utf8')).toBe('the member');
    expect(existsSync(opts.workRoot)).toBe(false);
    // And the run folder itself, or a folder beside its members, is refused alike
    await expect(pretrainCheckpoint({ ...opts, outDir: path.join(run, 'extra') })).rejects.toMatchObject({ where: { flag: 'out' } });
  });

  test('--resume with nothing to resume is refused before anything is made', async () => {
    // Given no pretraining ever into this output
    const opts = { ...options('none', 15), workRoot: path.join(root, 'nothing-to-resume'), resume: true };
    // When it is resumed
    await expect(pretrainCheckpoint(opts)).rejects.toMatchObject({ message: expect.stringMatching(/^nothing to resume/), where: { flag: 'resume' } });
    // Then no work folder was made (empty .digits/pretrain/mlp/none-… folders were left behind)
    expect(existsSync(opts.workRoot)).toBe(false);
  });

  test('an init of another preset, or a folder that is no checkpoint, is refused before anything is made, naming --init', async () => {
    // Given the shipped seed002 network as the init of an mlp pretraining (an internal error from the training before)
    const opts = { ...options('wrong-init', 14), workRoot: path.join(root, 'wrong-init-work') };
    await expect(pretrainCheckpoint({ ...opts, init: path.join(PACKAGE_ROOT, 'checkpoints', 'mnist-clean', 'seed002') })).rejects.toMatchObject({
      message: expect.stringMatching(/seed002 is a network of preset seed002, not mlp$/),
      where: { flag: 'init' },
      hint: expect.stringMatching(/^Pass --preset seed002 to continue it/),
    });
    // And a folder that holds no checkpoint
    await expect(pretrainCheckpoint({ ...opts, init: root })).rejects.toMatchObject({ where: { flag: 'init', file: root }, hint: expect.stringMatching(/^Give --init a checkpoint folder/) });
    // Then no work folder was made
    expect(existsSync(opts.workRoot)).toBe(false);
  });

  test('an output that is a shipped checkpoint is refused without --force; one named like a shipped one elsewhere is warned about', async () => {
    // Given the package's own folder, where the default --out checkpoints/mnist-clean/seed002 is the shipped network
    const shipped = path.join(PACKAGE_ROOT, 'checkpoints', 'mnist-clean', 'seed002');
    const before = await readdir(path.dirname(shipped));
    const cwd = process.cwd();
    process.chdir(PACKAGE_ROOT);
    try {
      await expect(pretrainCheckpoint({ ...options('x', 15), preset: 'seed002', outDir: shipped, workRoot: path.join(root, 'shipped-work') })).rejects.toMatchObject({
        message: 'checkpoints/mnist-clean/seed002 is a shipped checkpoint (the start of quick, full, auto or search): this pretraining would replace it',
        where: { flag: 'out' },
        hint: expect.stringMatching(/--force/),
      });
      expect(await readdir(path.dirname(shipped))).toEqual(before);
      expect(existsSync(path.join(root, 'shipped-work'))).toBe(false);
      // When the same relative --out is written from another folder
      process.chdir(root);
      // (but the shipped checkpoint itself reached from there, through .. or a symlink, is still refused: it was replaced, even by an mlp)
      const refusal = { message: 'checkpoints/mnist-clean/seed002 is a shipped checkpoint (the start of quick, full, auto or search): this pretraining would replace it', where: { flag: 'out' } };
      await expect(pretrainCheckpoint({ ...options('x', 15), preset: 'mlp', outDir: path.relative(root, shipped), workRoot: path.join(root, 'shipped-work') })).rejects.toMatchObject(refusal);
      await symlink(path.join(PACKAGE_ROOT, 'checkpoints'), path.join(root, 'linked'));
      await expect(pretrainCheckpoint({ ...options('x', 15), preset: 'mlp', outDir: path.join(root, 'linked', 'mnist-clean', 'seed002'), workRoot: path.join(root, 'shipped-work') })).rejects.toMatchObject(refusal);
      expect(await readdir(path.dirname(shipped))).toEqual(before);
      const warnings: string[] = [];
      // (a --resume with nothing to resume is refused without the warning first)
      await expect(pretrainCheckpoint({ ...options('y', 16), resume: true, outDir: path.join(root, 'checkpoints', 'mnist-clean', 'seed002'), workRoot: path.join(root, 'checkpoints', 'mnist-clean', '.digits'), onWarning: (m) => warnings.push(m) })).rejects.toMatchObject({ message: expect.stringMatching(/^nothing to resume/) });
      expect(warnings).toEqual([]);
      const result = await pretrainCheckpoint({ ...options('y', 16), epochs: 1, limit: 200, outDir: path.join(root, 'checkpoints', 'mnist-clean', 'seed002'), workRoot: path.join(root, 'checkpoints', 'mnist-clean', '.digits'), onWarning: (m) => warnings.push(m) });
      // Then it trains, and the user is told that inits of that name mean the shipped network
      expect(result.checkpoint).toBe(path.join(root, 'checkpoints', 'mnist-clean', 'seed002'));
      expect(warnings).toEqual([expect.stringMatching(/^checkpoints\/mnist-clean\/seed002 is also the name of a shipped checkpoint: "init": "checkpoints\/mnist-clean\/seed002" in an ensemble file in .* \(where "init" is looked for first\), and --init checkpoints\/mnist-clean\/seed002 from there, mean this one; an ensemble file anywhere else means the shipped one\. Name this one by its absolute path/)]);
      // and what it says holds: an ensemble file there finds this one, one elsewhere the shipped one
      // (this one is an mlp, the shipped one a seed002: each member names its network's preset, which ensemble files check)
      const member = { init: 'checkpoints/mnist-clean/seed002', epochs: 1 };
      await writeFile(path.join(root, 'here.json'), JSON.stringify({ name: 'here', members: [{ ...member, preset: 'mlp' }] }));
      await mkdir(path.join(root, 'elsewhere'), { recursive: true });
      await writeFile(path.join(root, 'elsewhere', 'there.json'), JSON.stringify({ name: 'there', members: [{ ...member, preset: 'seed002' }] }));
      expect(await resolveInit((await resolveEnsemble(path.join(root, 'here.json'))).members[0]!.init!)).toBe(path.join(root, 'checkpoints', 'mnist-clean', 'seed002'));
      expect(await resolveInit((await resolveEnsemble(path.join(root, 'elsewhere', 'there.json'))).members[0]!.init!)).toBe(path.join(PACKAGE_ROOT, 'checkpoints', 'mnist-clean', 'seed002'));
      // And a name no shipped checkpoint has draws no warning
      warnings.length = 0;
      await pretrainCheckpoint({ ...options('z', 17), epochs: 1, limit: 200, outDir: path.join(root, 'checkpoints', 'mine', 'mlp'), workRoot: path.join(root, 'checkpoints', 'mine', '.digits'), onWarning: (m) => warnings.push(m) });
      expect(warnings).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  }, 120_000);

  test('a second pretraining into an output being trained is refused, naming the first', async () => {
    const opts = options('held', 13);
    const workDir = pretrainWorkDir(opts.workRoot, opts.outDir, opts.preset, false);
    await rm(workDir, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(workDir, { recursive: true }));
    const lock = await lockRun(workDir, 'digits pretrain --preset mlp (the first)');
    try {
      const refused = pretrainCheckpoint(opts);
      await expect(refused).rejects.toThrow(/a pretraining into .*held is already running: .*in use by pid \d+ .*the first/);
      await expect(refused).rejects.toMatchObject({ where: { flag: 'out' }, hint: expect.stringMatching(/another --out/) });
    } finally {
      await lock.release();
    }
  });
});
