import { describe, expect, test } from 'vitest';
import { describeParams, formatLeaderboard, formatSearchEvent } from '../../src/cli/search-leaderboard.js';
import { formatRate } from '../../src/data/format.js';
import { formatUserError, UserError } from '../../src/errors.js';

const params = { preset: 'mlp', start: 'scratch' as const, optimizer: 'adam' as const, learningRate: 10, lrDecay: 1, batchSize: 32, labelSmoothing: 0, augmentation: {} };

describe('search output', () => {
  test('rates read plainly from 0.1 up and in two-digit exponent form below (10 read "1.0e+1")', () => {
    expect([10, 1, 0.3, 0.1, 0.099, 3e-4, 1.23e-5].map(formatRate)).toEqual(['10', '1', '0.3', '0.1', '9.9e-2', '3.0e-4', '1.2e-5']);
    expect(describeParams(params)).toBe('mlp from scratch, adam lr 10, batch 32, no augmentation');
    expect(describeParams({ ...params, learningRate: 3e-4 })).toContain('lr 3.0e-4');
  });

  test('a trial without a rung shows a dash in the table (its JSON row has null)', () => {
    const table = formatLeaderboard([{ rank: 1, trial: 'trial-001', state: 'failed', rung: null, epochs: 0, sampledEpochs: 1, valLoss: null, valAcc: null, params }]);
    expect(table.split('\n')[1]).toMatch(/^1\s+trial-001\s+failed\s+—\s+0\s+—\s+—\s+mlp/);
  });

  test('on an 80-column terminal the recipe wraps between its words; piped, each trial is one line', () => {
    const long = { ...params, augmentation: { rotation: 10, shift: 0.1, zoom: 0.1 }, labelSmoothing: 0.1 };
    const rows = [1, 2].map((rank) => ({ rank, trial: `trial-00${rank}`, state: 'done' as const, rung: 0, epochs: 2, sampledEpochs: 2, valLoss: 0.0392, valAcc: 0.9833, params: long }));
    const narrow = formatLeaderboard(rows, 80).trimEnd().split('\n');
    for (const line of narrow) expect([...line].length, line).toBeLessThanOrEqual(80);
    // every word of the recipe is whole on some line (until session 43: "adam l" / "r 6.4e-4")
    const words = narrow.join(' ').split(/\s+/);
    for (const word of describeParams(long).split(' ')) expect(words).toContain(word);
    expect(narrow.length).toBeGreaterThan(3);
    const piped = formatLeaderboard(rows).trimEnd().split('\n');
    expect(piped).toHaveLength(3);
    expect(piped[1]).toContain(describeParams(long));
  });

  test('a warning event is a warning line', () => {
    expect(formatSearchEvent({ type: 'warning', message: 'batch 4096 is more than 270 rows' })).toBe('warning: batch 4096 is more than 270 rows');
  });
});

describe('user errors', () => {
  test('a file the message names is not repeated in the location; a line and column keep it', () => {
    expect(formatUserError(new UserError('no imported dataset in /tmp/c', { where: { file: '/tmp/c', flag: 'data' } }))).toBe('error: no imported dataset in /tmp/c (flag --data)');
    expect(formatUserError(new UserError('bad JSON in /tmp/e.json', { where: { file: '/tmp/e.json', line: 3, column: 4 } }))).toBe('error: bad JSON in /tmp/e.json (/tmp/e.json:3:4)');
    expect(formatUserError(new UserError('bad value', { where: { file: '/tmp/e.json', flag: 'ensemble' }, hint: 'fix it' }))).toBe('error: bad value (/tmp/e.json, flag --ensemble)\n  hint: fix it');
  });
});

describe('auto events', () => {
  test('--synthetic-rows with no noise model to draw them says so (it was ignored without a word)', async () => {
    const { formatAutoEvent } = await import('../../src/cli/auto-summary.js');
    expect(formatAutoEvent({ type: 'auto-noise', reason: 'no noise model: the frame is black', syntheticRows: 0, asked: 500 })).toBe('no noise model: the frame is black → none of the 500 synthetic rows --synthetic-rows asked for: there is no noise model to draw them with');
    expect(formatAutoEvent({ type: 'auto-noise', reason: 'Gaussian σ 0.3', syntheticRows: 500, asked: 500 })).toBe('Gaussian σ 0.3 → 500 synthetic training rows');
    expect(formatAutoEvent({ type: 'auto-noise', reason: 'no noise model', syntheticRows: 0 })).toBe('no noise model');
  });
});
