import os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Child processes, not threads: tests spawn processes, send signals and use process-wide
    // state (the working folder, stdout). Files run one after another in each (isolate: false):
    // a file then finds tfjs, ONNX Runtime and the services already loaded, and idle training
    // workers from the file before. Tests never assume tfjs's backend: those that need one
    // start the engine (initEngine) or set it. Measured in README, "Dependencies and why".
    pool: 'forks',
    isolate: false,
    // Vitest's default is one worker fewer than the cores, so one file at a time on 2 cores;
    // many files wait on child processes, browsers, Redis or disk, and two at a time took CI's
    // vitest from 673 s to 537 s there (README, "Dependencies and why").
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
  },
});
