import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../../src/errors.js';
import { createRandom } from '../../../src/data/random.js';
import { memberFromInput } from '../../../src/ensemble/ensemble-spec.js';
import { readVerifiedMetadata } from '../../../src/model/checkpoint.js';
import { PACKAGE_ROOT, resolveInit } from '../../../src/model/shipped.js';
import { parseSearchSpace, sampleRange, sampleTrial, searchSpaceFromJson, startCheckpoints, trialMember } from '../../../src/training/search/space.js';

describe('sampling', () => {
  test('log-uniform: each decade gets the same share of draws', () => {
    // Given 1e-5…1e-1 (four decades) log-uniform
    const rnd = createRandom(7);
    const perDecade = [0, 0, 0, 0];
    const n = 20_000;
    let lowest = Infinity;
    let highest = 0;
    for (let i = 0; i < n; i++) {
      const v = sampleRange({ min: 1e-5, max: 1e-1, log: true }, rnd);
      lowest = Math.min(lowest, v);
      highest = Math.max(highest, v);
      perDecade[Math.min(3, Math.floor(Math.log10(v) + 5))]!++;
    }
    expect(lowest).toBeGreaterThanOrEqual(1e-5);
    expect(highest).toBeLessThanOrEqual(1e-1);
    // Then about a quarter in each (uniform would put 90% in the top decade)
    for (const count of perDecade) expect(Math.abs(count / n - 0.25)).toBeLessThan(0.02);
  });

  test('integer ranges cover both ends', () => {
    const rnd = createRandom(3);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(sampleRange({ min: 1, max: 4 }, rnd, true));
    expect([...seen].sort()).toEqual([1, 2, 3, 4]);
  });

  test('trial i is a function of (seed, i) only, so a resumed search draws the same trials', () => {
    const space = parseSearchSpace(JSON.parse(readFileSync('spaces/default.json', 'utf8')));
    expect(sampleTrial(space, 42, 5)).toEqual(sampleTrial(space, 42, 5));
    expect(sampleTrial(space, 42, 5)).not.toEqual(sampleTrial(space, 42, 6));
    expect(sampleTrial(space, 42, 5)).not.toEqual(sampleTrial(space, 43, 5));
  });

  test('every draw of the shipped space is a valid ensemble member', () => {
    const space = parseSearchSpace(JSON.parse(readFileSync('spaces/default.json', 'utf8')));
    for (let i = 0; i < 30; i++) {
      const params = sampleTrial(space, 1, i);
      expect(params.learningRate).toBeGreaterThanOrEqual(3e-5 * 0.999);
      expect(params.learningRate).toBeLessThanOrEqual(3e-3 * 1.001);
      const member = memberFromInput(trialMember(params, `t${i}`, i), i);
      expect(member.init === undefined).toBe(params.start === 'scratch');
      if (params.start === 'noisy') expect(member.init).toBe('checkpoints/mnist-noisy/seed002');
    }
  });
});

describe('validation names the key', () => {
  const base = { preset: 'seed002', learningRate: { min: 1e-4, max: 1e-2, log: true }, epochs: { min: 1, max: 9 } };
  test.each([
    [{ ...base, lerningRate: 1 }, /search space lerningRate: unknown key/],
    [{ ...base, preset: 'resnet' }, /search space preset: must be one of/],
    [{ ...base, learningRate: { min: 0, max: 1, log: true } }, /search space learningRate\.min: must be > 0/],
    [{ ...base, learningRate: { min: 1e-2, max: 1e-4 } }, /search space learningRate: max \(0\.0001\) is below min/],
    [{ ...base, learningRate: { min: 1e-4, max: 1e-2, scale: 'log' } }, /search space learningRate\.scale: unknown key/],
    [{ ...base, epochs: { min: 1.5, max: 9 } }, /search space epochs\.min: must be a whole number/],
    [{ ...base, batchSize: [32, '64'] }, /search space batchSize\[1\]: must be a finite number, got "64"/],
    [{ ...base, optimizer: ['adam', 'lion'] }, /search space optimizer\[1\]: must be one of adam, rmsprop, sgd/],
    [{ ...base, augmentation: { rotate: [0, 10] } }, /search space augmentation\.rotate: unknown key/],
    [{ ...base, augmentation: { rotation: -1 } }, /search space augmentation\.rotation: must be a number from 0 to 180 \(degrees\), got -1/],
    [{ ...base, augmentation: { zoom: { min: 0, max: 1.5 } } }, /search space augmentation\.zoom\.max: must be a number from 0 to below 1/],
    [{ ...base, augmentation: { pixelShift: [1, 2.5] } }, /search space augmentation\.pixelShift\[1\]: must be a whole number/],
    [{ ...base, preset: 'mlp', start: ['noisy'] }, /search space start: preset mlp has no shipped noisy checkpoint/],
    [{ preset: 'seed002', epochs: 3 }, /search space learningRate: is required/],
    // (session 38: the first stopped a search at the trial that drew it, every time it was resumed)
    [{ ...base, augmentation: { backgroundNoiseMin: { min: 0, max: 0.3 }, backgroundNoise: { min: 0.1, max: 0.4 } } }, /search space augmentation\.backgroundNoiseMin: can be drawn above backgroundNoise: its largest value \(0\.3\) must be at most backgroundNoise's smallest \(0\.1\)/],
    [{ ...base, augmentation: { backgroundNoiseMin: [0.5] } }, /search space augmentation\.backgroundNoiseMin: can be drawn above backgroundNoise: its largest value \(0\.5\) must be at most backgroundNoise's smallest \(0\)/],
    [{ ...base, learningRate: { min: 1e-3 } }, /search space learningRate\.max: is required$/],
    [{ ...base, learningRate: Infinity }, /search space learningRate: must be a finite number, got Infinity$/],
    // an ensemble file given as the space is named as one (it was "name: unknown key")
    [{ name: 'quick', validation: { kind: 'shared', fraction: 0.1 }, members: [{ preset: 'mlp' }] }, /search space members: is an ensemble file's key: this file is an ensemble \(`digits train --ensemble` trains it\), not a search space/],
  ])('%j', (raw, message) => {
    let error: unknown;
    try {
      parseSearchSpace(raw, 'space.json');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(message);
    expect((error as UserError).where?.file).toBe('space.json');
    expect((error as UserError).hint).toMatch(/space file/);
  });

  test('a "$schema" key (an editor\'s pointer, as ensemble files carry) is accepted', () => {
    expect(parseSearchSpace({ $schema: 'x.json', ...base }).preset).toEqual(['seed002']);
  });

  test('an error in a space file names the line and column of its key, and an unknown key the allowed one it is closest to', () => {
    const thrown = (text: string) => {
      try {
        searchSpaceFromJson(text, 'space.json');
      } catch (e) {
        return e as UserError;
      }
      throw new Error('no error');
    };
    const typo = thrown('{\n  "preset": "mlp",\n  "epohcs": 2\n}');
    expect(typo.message).toMatch(/^search space epohcs: unknown key \(did you mean "epochs"\? allowed: preset, /);
    expect(typo.where).toEqual({ file: 'space.json', line: 3, column: 3 });
    const range = thrown('{"preset": "mlp", "epochs": 2,\n "learningRate": {"min": 0.01,\n   "max": 0.001}}');
    expect(range.message).toBe('search space learningRate: max (0.001) is below min (0.01)');
    expect(range.where).toEqual({ file: 'space.json', line: 2, column: 2 });
    const item = thrown('{"preset": "mlp", "learningRate": 0.001, "epochs": 2, "batchSize": [32,\n  0.5]}');
    expect(item.message).toMatch(/^search space batchSize\[1\]: must be a whole number/);
    expect(item.where).toEqual({ file: 'space.json', line: 2, column: 3 });
    const augmentation = thrown('{"preset": "mlp", "learningRate": 0.001, "epochs": 2, "augmentation": {\n "rotaton": 5}}');
    expect(augmentation.message).toMatch(/^search space augmentation\.rotaton: unknown key \(did you mean "rotation"\?/);
    expect(augmentation.where).toEqual({ file: 'space.json', line: 2, column: 2 });
  });

  test('invalid JSON says so, naming the file', () => {
    expect(() => searchSpaceFromJson('{"preset": ', 'bad.json')).toThrow(/not valid JSON/);
  });

  test('a key given twice in one object is refused naming the file, line and column of the second (JSON.parse kept the last)', () => {
    const text = '{\n  "preset": "mlp",\n  "learningRate": 0.001,\n  "epochs": 2,\n  "learningRate": 0.1\n}';
    const error = (() => {
      try {
        searchSpaceFromJson(text, 'twice.json');
      } catch (e) {
        return e as UserError;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(UserError);
    expect(error!.message).toBe('the space file gives the key "learningRate" twice in one object');
    expect(error!.where).toMatchObject({ file: 'twice.json', line: 5, column: 3 });
    // the same key in different objects is no duplicate
    expect(searchSpaceFromJson('{"preset": "mlp", "learningRate": 0.001, "epochs": 2, "augmentation": {"rotation": 5}, "batchSize": 32}').preset).toBeDefined();
  });
});

describe('shipped starting points', () => {
  test('a start\'s checkpoint is the shipped one even when the working folder holds a checkpoint of that name; other relative inits are from the working folder', async () => {
    // Given a working folder where a checkpoint was pretrained under the noisy start's name (pretrain's default --out does that), and one of its own
    const work = await mkdtemp(path.join(os.tmpdir(), 'digits-shadow-'));
    const cwd = process.cwd();
    try {
      await cp(path.join(PACKAGE_ROOT, 'checkpoints/mnist-clean/seed002'), path.join(work, 'checkpoints/mnist-noisy/seed002'), { recursive: true });
      await cp(path.join(PACKAGE_ROOT, 'checkpoints/mnist-clean/seed002'), path.join(work, 'checkpoints/mine'), { recursive: true });
      process.chdir(work);
      // When the start's init and the other are resolved there
      // Then the start is the shipped checkpoint, and the user's own path is theirs
      expect(await resolveInit('checkpoints/mnist-noisy/seed002')).toBe(path.join(PACKAGE_ROOT, 'checkpoints/mnist-noisy/seed002'));
      expect(await realpath(await resolveInit('checkpoints/mine'))).toBe(await realpath(path.join(work, 'checkpoints/mine')));
      expect(await resolveInit(path.join(work, 'checkpoints/mnist-noisy/seed002'))).toBe(path.join(work, 'checkpoints/mnist-noisy/seed002'));
    } finally {
      process.chdir(cwd);
      await rm(work, { recursive: true, force: true });
    }
  });

  test('a start\'s checkpoints: the first, then its complete numbered siblings in number order', async () => {
    const { mkdtemp, mkdir, writeFile, rm } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const root = await mkdtemp(path.join(os.tmpdir(), 'digits-starts-'));
    try {
      const make = async (name: string, complete = true) => {
        await mkdir(path.join(root, 'checkpoints', 'mnist-noisy', name), { recursive: true });
        if (complete) await writeFile(path.join(root, 'checkpoints', 'mnist-noisy', name, 'COMPLETE'), '{}');
      };
      // nothing shipped: the first alone (the start is unavailable, and says so where it is used)
      expect(startCheckpoints('noisy', 'seed002', root)).toEqual([path.join('checkpoints', 'mnist-noisy', 'seed002')]);
      await make('seed002');
      await make('seed002-10');
      await make('seed002-2');
      await make('seed002-3', false); // interrupted: no COMPLETE
      await make('seed002-x');
      await make('seed0020');
      await make('deotte-2');
      expect(startCheckpoints('noisy', 'seed002', root)).toEqual(['seed002', 'seed002-2', 'seed002-10'].map((n) => path.join('checkpoints', 'mnist-noisy', n)));
      expect(startCheckpoints('scratch', 'seed002', root)).toEqual([]);
      // siblings without the first do not make the start available
      expect(startCheckpoints('noisy', 'deotte', root)).toEqual([path.join('checkpoints', 'mnist-noisy', 'deotte')]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
  test('the shipped siblings are whole checkpoints of their start, each validated on the same 5,002 rows', async () => {
    for (const start of ['clean', 'noisy'] as const) {
      const dirs = startCheckpoints(start, 'seed002');
      expect(dirs.length).toBeGreaterThanOrEqual(3);
      const digests = new Set<string>();
      for (const dir of dirs.slice(1)) {
        // the files match their COMPLETE marker's hashes
        const metadata = await readVerifiedMetadata(path.join(PACKAGE_ROOT, dir));
        expect(metadata.preset).toBe('seed002');
        expect(metadata.hyperparameters).toMatchObject({ holdoutSeed: 42, validationRows: 5002 });
        digests.add((metadata.hyperparameters as { validationRowsSha256: string }).validationRowsSha256);
      }
      expect(digests.size).toBe(1);
    }
    expect(startCheckpoints('clean', 'seed002').map((d) => path.basename(d))).toEqual(['seed002', 'seed002-2', 'seed002-3', 'seed002-4']);
  });
});
