import { expect, test } from 'vitest';
import { overBudgetNote } from '../../src/cli/auto-summary.js';

test("a run more than a tenth over its budget says so beside its time; within it, or without a budget, nothing", () => {
  // (a 0.5-minute budget on 600 rows took 114 s, said only in the plan's line far above)
  expect(overBudgetNote(114, 0.5)).toMatch(/^, past the 0\.5-minute budget \(30s\): the plan line above says what it needed/);
  expect(overBudgetNote(1190, 20)).toBe('');
  expect(overBudgetNote(1320, 20)).toBe('');
  expect(overBudgetNote(1321, 20)).toMatch(/past the 20-minute budget \(1200s\)/);
  expect(overBudgetNote(5000, undefined)).toBe('');
});
