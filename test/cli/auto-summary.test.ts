import { expect, test } from 'vitest';
import { formatAutoEvent } from '../../src/cli/auto-summary.js';

test('the chosen line names both starts and their rates when every other member starts from a second one', () => {
  const reason = 'lowest holdout loss of 6 probes';
  expect(formatAutoEvent({ type: 'auto-chosen', start: 'noisy', learningRate: 6e-5, reason })).toBe(`chosen: noisy start at 6.0e-5 (${reason})`);
  expect(formatAutoEvent({ type: 'auto-chosen', start: 'clean', learningRate: 7.3e-5, spreadLearningRate: 7.3e-4, reason })).toBe(`chosen: clean start at 7.3e-5 and 7.3e-4 (${reason})`);
  expect(formatAutoEvent({ type: 'auto-chosen', start: 'clean', learningRate: 4.6e-4, second: { start: 'noisy', learningRate: 6.8e-4 }, reason })).toBe(
    `chosen: clean start at 4.6e-4, and the noisy start at 6.8e-4 (every other member) (${reason})`,
  );
});
