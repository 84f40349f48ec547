/** What `digits doctor` reports: the engine chosen, why the others were skipped, and a quick benchmark. */
import os from 'node:os';
import * as tf from '../engine/tf.js';
import { initEngine, type BackendRequest, type EngineInfo } from '../engine/backend.js';
import { measureTraining, type ThroughputResult } from '../training/throughput.js';
import { onnxRuntimeStatus } from '../engine/ort.js';
import { buildModel } from '../model/presets.js';
import { createTrainStep } from '../training/train-step.js';

export interface DoctorOptions {
  backend: BackendRequest;
  /** length of the micro-benchmark; 0 skips it */
  benchmarkSeconds: number;
}

export interface DoctorReport {
  engine: EngineInfo;
  cpu: { model: string; cores: number; memoryGiB: number };
  /** which inference runtime loads (evaluate, submit and serve use it) */
  inference: { onnxRuntime: { available: boolean; reason: string }; default: 'onnx' | 'tfjs' };
  benchmark: (ThroughputResult & { what: string }) | null;
  /** the training step trainMember takes for seed002 on this engine, and why */
  training: { kind: string; reason: string };
}

/** Which step trainMember would take for the benchmark network (nothing is run). */
function trainingStepChoice(): { kind: string; reason: string } {
  const model = buildModel('seed002');
  const optimizer = tf.train.rmsprop(1e-3, 0.9, 0, 1e-7);
  try {
    const step = createTrainStep(model, optimizer, { optimizer: 'rmsprop', seed: 0 });
    step.dispose();
    return { kind: step.kind, reason: step.reason };
  } finally {
    model.dispose();
    optimizer.dispose();
  }
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const engine = await initEngine({ backend: options.backend });
  const cpus = os.cpus();
  const cpu = { model: cpus[0]?.model ?? 'unknown', cores: os.availableParallelism(), memoryGiB: Math.round(os.totalmem() / 2 ** 30) };
  const training = trainingStepChoice();
  let benchmark: DoctorReport['benchmark'] = null;
  if (options.benchmarkSeconds > 0) {
    // seed002 on every backend, so the figures compare: on cpu it trains through ONNX Runtime's
    // whole step at wasm's speed (session 39; until session 43 doctor still benchmarked the mlp
    // there, and cpu read 40× faster than wasm). Only tfjs's own cpu kernels need seconds per
    // step of seed002: there the small MLP is benchmarked, and the line says so.
    const slow = engine.backend === 'cpu' && training.kind !== 'ort';
    const preset = slow ? 'mlp' : 'seed002';
    const result = await measureTraining({ preset, batchSize: 64, seconds: options.benchmarkSeconds, warmupSteps: 1 });
    benchmark = { ...result, what: `training ${preset}${slow ? ' (not seed002: the cpu backend without ONNX Runtime\'s step takes seconds a step of it)' : ''}, batch 64, one thread` };
  }
  const onnxRuntime = onnxRuntimeStatus();
  return { engine, cpu, inference: { onnxRuntime, default: onnxRuntime.available ? 'onnx' : 'tfjs' }, benchmark, training };
}

/** Plain-text rendering (also what a non-TTY prints). */
export function formatDoctor(report: DoctorReport): string {
  const { engine } = report;
  const lines: string[] = [];
  lines.push(`backend      ${engine.backend} (tfjs backend "${engine.tfBackend}")`);
  for (const a of engine.attempts) lines.push(`  ${a.ok ? '✓' : '✗'} ${a.backend.padEnd(5)} ${a.reason}`);
  if (engine.backend === 'wasm') {
    lines.push(`wasm         SIMD ${engine.simd ? 'on' : 'off'}, ${engine.threads} thread(s) (single-threaded under Node: parallel work runs in worker threads)`);
    lines.push(`kernels      added or replaced on wasm: ${engine.addedKernels.join(', ')}`);
    lines.push(`native conv  ${engine.ort.enabled ? '✓' : '✗'} ${engine.ort.reason}`);
  }
  lines.push(`training     ${report.training.kind === 'ort' ? '✓' : '✗'} ${report.training.reason}`);
  lines.push(`gpu          ${engine.gpu ? 'yes' : 'no'}`);
  lines.push(`inference    ${report.inference.default === 'onnx' ? '✓ ONNX Runtime' : '✗ ONNX Runtime (tfjs fallback)'}: ${report.inference.onnxRuntime.reason}`);
  lines.push(`versions     ${Object.entries(engine.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`cpu          ${report.cpu.model}, ${report.cpu.cores} cores, ${report.cpu.memoryGiB} GiB`);
  if (report.benchmark) {
    const b = report.benchmark;
    lines.push(`benchmark    ${b.imagesPerSecond} img/s ${b.what} (${b.steps} steps in ${b.seconds}s, ${b.msPerStep} ms/step)`);
  }
  return lines.join('\n');
}
