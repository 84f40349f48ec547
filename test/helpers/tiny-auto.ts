/**
 * The options of a tiny real `digits run` with the auto ensemble, as the run tests use it: a
 * half-minute budget on 2 wasm workers, seed 42, and probes that keep the plan the budget
 * makes (not one fitted to how busy the machine was just now), so two runs probe the same rows.
 */
import type { MainJobOptions } from '../../src/services/run.js';

export function tinyAutoRunOptions(input: { data: string; workDir: string; runName: string } & Partial<MainJobOptions>): MainJobOptions {
  return {
    ensemble: 'auto',
    budgetMinutes: 0.5,
    backend: 'wasm',
    infer: 'auto',
    concurrency: 2,
    seed: 42,
    command: 'test',
    fitProbesToSpeed: false,
    ...input,
  };
}
