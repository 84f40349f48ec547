import { describe, expect, test } from 'vitest';
import { nextJob, promotable, rankTrials, rungEpochs, type RungScore, type SchedulerConfig, type TrialState } from '../../../src/training/search/asha.js';

const score = (rung: number, valLoss: number, epochs = [1, 3, 9][rung]!): RungScore => ({ rung, epochs, valLoss, valAcc: 1 - valLoss });
const trial = (id: number, losses: number[], running = false): TrialState => ({ id, scores: losses.map((l, r) => score(r, l)), running });
const asha: SchedulerConfig = { kind: 'asha', rungs: [1, 3, 9], eta: 3, maxTrials: 9 };

describe('rungEpochs', () => {
  test.each([
    [1, 9, 3, [1, 3, 9]],
    [1, 10, 3, [1, 3, 10]],
    [1, 27, 3, [1, 3, 9, 27]],
    [2, 8, 2, [2, 4, 8]],
    [1, 9, 2, [1, 2, 4, 9]],
    [1, 1, 3, [1]],
    [1, 4, 1.5, [1, 2, 4]],
    [5, 6, 2, [5, 6]],
  ])('r=%i R=%i η=%f → %j', (r, max, eta, expected) => {
    expect(rungEpochs(r, max, eta)).toEqual(expected);
  });
  test('refuses η ≤ 1 and min > max', () => {
    expect(() => rungEpochs(1, 9, 1)).toThrow(RangeError);
    expect(() => rungEpochs(5, 2, 3)).toThrow(RangeError);
  });
});

describe('ASHA promotion rule', () => {
  test('with fewer than η results at a rung nothing is promoted: a new trial starts', () => {
    // Given two finished trials at rung 0 and η = 3
    const trials = [trial(0, [0.5]), trial(1, [0.3])];
    // Then ⌊2/3⌋ = 0 may be promoted
    expect(promotable(trials, 0, 3)).toEqual([]);
    expect(nextJob(trials, asha)).toEqual({ kind: 'new', rung: 0 });
  });

  test('the best of three results at rung 0 is promoted to rung 1', () => {
    const trials = [trial(0, [0.5]), trial(1, [0.3]), trial(2, [0.4])];
    expect(nextJob(trials, asha)).toEqual({ kind: 'promote', trial: 1, rung: 1 });
  });

  test('asynchronous: promotion does not wait for the rung to fill or for running trials', () => {
    // Given three results at rung 0 and five more trials still running their first rung
    const trials = [trial(0, [0.5]), trial(1, [0.3]), trial(2, [0.4]), ...[3, 4, 5, 6, 7].map((id) => trial(id, [], true))];
    // Then the best finished one is promoted at once
    expect(nextJob(trials, asha)).toEqual({ kind: 'promote', trial: 1, rung: 1 });
  });

  test('a trial already promoted (or running) is not promoted again; the next in the top 1/η is', () => {
    // Six results at rung 0: the top two may go up; trial 1 already did
    const trials = [trial(0, [0.5]), trial(1, [0.1, 0.08]), trial(2, [0.4]), trial(3, [0.2]), trial(4, [0.6]), trial(5, [0.7])];
    expect(promotable(trials, 0, 3)).toEqual([3]);
    trials[3]!.running = true;
    expect(promotable(trials, 0, 3)).toEqual([]);
  });

  test('higher rungs are served first', () => {
    // Three results at rung 1 (the best, trial 2, may go to rung 2) and promotable ones at rung 0
    const trials = [trial(0, [0.5, 0.45]), trial(1, [0.3, 0.25]), trial(2, [0.4, 0.2]), ...[3, 4, 5, 6, 7, 8].map((id) => trial(id, [0.6 + id / 100]))];
    expect(nextJob(trials, asha)).toEqual({ kind: 'promote', trial: 2, rung: 2 });
  });

  test('a failed trial is never promoted', () => {
    const trials = [trial(0, [0.5]), { ...trial(1, [0.1]), failed: true }, trial(2, [0.4])];
    expect(promotable(trials, 0, 3)).toEqual([]);
  });

  test('no job once every trial is sampled and none can be promoted (the search waits or ends)', () => {
    const trials = Array.from({ length: 9 }, (_, id) => trial(id, id < 3 ? [0.1 * id, 0.1, 0.1] : [0.5 + id / 100], false));
    // the top three of rung 0 are already at rung 2
    expect(nextJob(trials, asha)).toBeNull();
  });

  test('random search never promotes', () => {
    const trials = [trial(0, [0.5]), trial(1, [0.3]), trial(2, [0.4])];
    expect(nextJob(trials, { kind: 'random', rungs: [5], eta: 3, maxTrials: 4 })).toEqual({ kind: 'new', rung: 0 });
    expect(nextJob([...trials, trial(3, [0.2])], { kind: 'random', rungs: [5], eta: 3, maxTrials: 4 })).toBeNull();
  });
});

test('the leaderboard puts higher rungs first, then lower loss; unscored last', () => {
  const ranked = rankTrials([trial(0, [0.2]), trial(1, [0.5, 0.4]), trial(2, []), trial(3, [0.1]), trial(4, [0.6, 0.3])]);
  expect(ranked.map((t) => t.id)).toEqual([4, 1, 3, 0, 2]);
});
