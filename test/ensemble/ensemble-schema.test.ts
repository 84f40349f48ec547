/**
 * One schema definition, two uses: the validator of `--ensemble file.json` and the published
 * JSON Schema (ensemble.schema.json) that editors check files with. The committed schema is
 * what the definition generates, and a standard JSON Schema validator (ajv) accepts and
 * refuses the same files the CLI does.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, test } from 'vitest';
import { ensembleJsonSchema } from '../../src/ensemble/ensemble-schema.js';
import { BUILTIN_ENSEMBLES, ensembleFromJson, withOverrides } from '../../src/ensemble/ensemble-spec.js';
import { BUILTIN_ENSEMBLE_NAMES } from '../../src/cli/flags.js';
import { repoRoot } from '../helpers/run-command.js';

describe('ensemble.schema.json', () => {
  test('the committed file is what the schema definition generates (npm run schema)', async () => {
    const committed = JSON.parse(await readFile(path.join(repoRoot, 'ensemble.schema.json'), 'utf8')) as unknown;
    expect(committed).toEqual(ensembleJsonSchema());
  });

  const files: Array<[string, unknown, boolean]> = [
    ['a minimal file', { members: [{ preset: 'mlp' }] }, true],
    ['every key, with "$schema"', { $schema: './ensemble.schema.json', name: 'n', description: 'd', validation: { kind: 'bagged', fraction: 0.2 }, members: [{ name: 'a', preset: 'seed002', optimizer: 'sgd', learningRate: 0.01, momentum: 0.9, schedule: { kind: 'step', every: 2, factor: 0.5 }, reduceLROnPlateau: { factor: 0.5, patience: 2 }, earlyStopping: { patience: 3 }, labelSmoothing: 0.1, augmentation: { rotation: 10, zoom: 0.1 }, epochs: 3, batchSize: 32, seed: 7, init: 'checkpoints/mnist-clean/seed002', freezeUpTo: 'conv_1' }] }, true],
    ['an unknown key', { members: [{ preset: 'mlp', epocs: 3 }] }, false],
    ['an unknown preset', { members: [{ preset: 'resnet' }] }, false],
    ['no members', { members: [] }, false],
    ['fractional epochs', { members: [{ preset: 'mlp', epochs: 2.5 }] }, false],
    ['an unknown schedule kind', { members: [{ preset: 'mlp', schedule: { kind: 'cosine' } }] }, false],
    ['a validation fraction of 1', { members: [{ preset: 'mlp' }], validation: { kind: 'shared', fraction: 1 } }, false],
    ['a negative augmentation range', { members: [{ preset: 'mlp', augmentation: { zoom: -0.1 } }] }, false],
    ['a zoom of 1', { members: [{ preset: 'mlp', augmentation: { zoom: 1 } }] }, false],
    ['a fractional pixel shift', { members: [{ preset: 'mlp', augmentation: { pixelShift: 2.5 } }] }, false],
    ['augmentation at its limits', { members: [{ preset: 'mlp', augmentation: { rotation: 180, contrast: 1, erasing: 1, pixelShift: 14, zoom: 0.99 } }] }, true],
  ];

  test.each(files)('%s: the CLI and a JSON Schema validator agree (valid: %s)', (_label, file, valid) => {
    // Given the published schema compiled by ajv
    const check = new Ajv2020({ strict: false }).compile(ensembleJsonSchema());
    // When both judge the file, Then they agree
    expect(check(file)).toBe(valid);
    const parse = () => ensembleFromJson(JSON.stringify(file), 'e.json');
    if (valid) expect(parse).not.toThrow();
    else expect(parse).toThrow(/^(\(top level\)|members|validation)/);
  });
});

describe('overrides from the command line', () => {
  test('--seed, --epochs, --learning-rate, --batch-size apply to every member; seeds stay different', () => {
    // Given the quick ensemble
    const quick = BUILTIN_ENSEMBLES.quick!();
    // When every override is given
    const over = withOverrides(quick, { seed: 3, epochs: 1, learningRate: 0.002, batchSize: 16 });
    // Then every member has them, member i seeded 3 + i, and nothing else changed
    expect(over.members.map((m) => m.seed)).toEqual(quick.members.map((_, i) => 3 + i));
    expect(over.members.every((m) => m.epochs === 1 && m.learningRate === 0.002 && m.batchSize === 16)).toBe(true);
    expect(over.members.map((m) => ({ ...m, seed: 0, epochs: 0, learningRate: 0, batchSize: 0 }))).toEqual(quick.members.map((m) => ({ ...m, seed: 0, epochs: 0, learningRate: 0, batchSize: 0 })));
    // and no override leaves the spec as it was
    expect(withOverrides(quick, {})).toBe(quick);
  });

  test('the ensemble names help shows are the built-in ones', () => {
    expect([...BUILTIN_ENSEMBLE_NAMES]).toEqual(Object.keys(BUILTIN_ENSEMBLES));
  });
});
