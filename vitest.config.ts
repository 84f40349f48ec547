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
    // A young generation of 64 MB, not V8's 16, in the test processes (not in the commands they
    // start, which run as users run them): the noise fits and tfjs allocate many short-lived
    // arrays, and fewer scavenges made noise-model and auto-noise 6–20% faster, file by file (README, "vitest").
    execArgv: ['--max-semi-space-size=64'],
    // Vitest's default is one worker fewer than the cores, so one file at a time on 2 cores;
    // many files wait on child processes, browsers, Redis or disk, and two at a time took CI's
    // vitest from 673 s to 537 s there (README, "Dependencies and why").
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
  },
});
