import os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each file gets its own process: tfjs keeps global engine/backend state.
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores, so one file at a time on 2 cores;
    // many files wait on child processes, browsers, Redis or disk, and two at a time took CI's
    // vitest from 673 s to 537 s there (README, "Dependencies and why").
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
  },
});
