import { describe, expect, test } from 'vitest';
import { DEFAULT_RECIPES, baselineEnsemble, baselineName } from '../../bench/generalization.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';

describe('bench:generalization', () => {
  test('the baseline is one seed002 member from scratch: RMSprop 1e-3 constant, rotation ±10°, shifts ±10%, batch 64, the given epochs', () => {
    const spec = ensembleFromJson(JSON.stringify(baselineEnsemble(15)), 'baseline.json');
    expect(spec.members).toHaveLength(1);
    expect(spec.members[0]).toMatchObject({
      preset: 'seed002',
      optimizer: 'rmsprop',
      learningRate: 1e-3,
      schedule: { kind: 'constant' },
      augmentation: { rotation: 10, widthShift: 0.1, heightShift: 0.1 },
      epochs: 15,
      batchSize: 64,
    });
    expect(spec.members[0].init).toBeUndefined();
    expect(spec.validation).toEqual({ kind: 'shared', fraction: 0.1, seed: 42 });
  });

  test('a baseline of another seed differs in its member seed alone, and keeps its own files', () => {
    const two = ensembleFromJson(JSON.stringify(baselineEnsemble(15)), 'baseline.json');
    const three = ensembleFromJson(JSON.stringify(baselineEnsemble(15, 3)), 'baseline.json');
    expect(two.members[0].seed).toBe(2);
    expect(three.members[0].seed).toBe(3);
    expect({ ...three.members[0], seed: 2 }).toEqual(two.members[0]);
    expect(three.validation).toEqual(two.validation);
    expect(baselineName(2)).toBe('baseline');
    expect(baselineName(3)).toBe('baseline-seed3');
  });

  test('the default list has at least 8 recipes other than uniform, with motion blur, impulse noise and AWGN with reduced contrast', () => {
    expect(DEFAULT_RECIPES.filter((r) => r !== 'uniform').length).toBeGreaterThanOrEqual(8);
    expect(DEFAULT_RECIPES).toEqual(expect.arrayContaining(['mnistc-motion-blur', 'mnistc-impulse-noise', 'nmnist-contrast-awgn']));
  });
});
