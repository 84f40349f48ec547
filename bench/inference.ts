/**
 * Inference throughput of the seed002 benchmark network (../shared/reference-models.md):
 * one member at batch 1, 32 and 256 on ONNX Runtime (intra-op threads = cores) in float32 and
 * in int8 (onnx-quantize.ts, calibrated on 1,024 MNIST training images) and on tfjs-wasm
 * (XNNPACK, no ONNX Runtime kernels), then the wall time of a 5-member ensemble with 8-way TTA
 * over 10,000 images on ONNX Runtime in each precision. Members are freshly built (untrained)
 * and saved to temp checkpoints: speed does not depend on the weights. JSON on stdout,
 * progress on stderr.
 *
 *   node --import tsx bench/inference.ts > inference.json
 *   BENCH_SECONDS=2 BENCH_ROUNDS=1 BENCH_ENSEMBLE_IMAGES=2000 node --import tsx bench/inference.ts   # shorter
 *
 * Each img/s figure is the median of BENCH_ROUNDS (3) windows of BENCH_SECONDS (3) each, with
 * every window listed under `rounds`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../src/engine/tf.js';
import { initEngine } from '../src/engine/backend.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import { exportCheckpointToOnnx } from '../src/onnx/export.js';
import { onnxRuntimeStatus } from '../src/engine/ort.js';
import { createOnnxPredictor, createTfjsPredictor, type Predictor } from '../src/inference/predictor.js';
import { predictEnsemble } from '../src/ensemble/predict-ensemble.js';
import { TTA_8 } from '../src/ensemble/tta.js';
import { readMnist } from '../src/data/mnist.js';
import type { CalibrationSet } from '../src/onnx/quantize.js';
import { buildModel } from '../src/model/presets.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const ensembleImages = Number(process.env.BENCH_ENSEMBLE_IMAGES ?? 10_000);
const members = Number(process.env.BENCH_MEMBERS ?? 5);
const batches = [1, 32, 256];
const cores = os.availableParallelism();
const log = (line: string) => process.stderr.write(`${line}\n`);

function randomImages(count: number): Float32Array {
  return Float32Array.from({ length: count * 784 }, () => Math.random());
}

/**
 * Images per second of `predictor` at `batch`: `rounds` windows of about `seconds` each after
 * two warm-up calls, reported as their median with every window beside it. On a shared VM one
 * window can land in a slow phase (seen here: the same code at 7,300 and 9,300 img/s a few
 * minutes apart), so a single window says more about the neighbours than about the code.
 */
async function throughput(predictor: Predictor, batch: number): Promise<{ batch: number; imagesPerSecond: number; rounds: number[]; msPerBatch: number; calls: number }> {
  const images = randomImages(batch);
  for (let i = 0; i < 2; i++) await predictor.predict(images, batch);
  const windows: Array<{ rate: number; ms: number; calls: number }> = [];
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < seconds * 1000 || calls < 3) {
      await predictor.predict(images, batch);
      calls++;
      elapsed = performance.now() - start;
    }
    windows.push({ rate: (calls * batch * 1000) / elapsed, ms: elapsed / calls, calls });
  }
  const median = [...windows].sort((a, b) => a.rate - b.rate)[windows.length >> 1]!;
  return {
    batch,
    imagesPerSecond: Math.round(median.rate),
    rounds: windows.map((w) => Math.round(w.rate)),
    msPerBatch: Number(median.ms.toFixed(3)),
    calls: windows.reduce((n, w) => n + w.calls, 0),
  };
}

const root = await mkdtemp(path.join(os.tmpdir(), 'digits-bench-inference-'));
try {
  await initEngine({ backend: 'wasm', ortKernels: false });
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const dirs: string[] = [];
  for (let m = 0; m < members; m++) {
    const dir = path.join(root, `seed002-${m}`);
    const model = buildModel('seed002');
    await saveCheckpoint(model, dir, {
      preset: 'seed002',
      hyperparameters: {},
      preprocessing: { scale: '0-1' },
      orientation: 'as-is',
      seed: m,
      dataFingerprint: null,
      metrics: {},
      command: 'bench/inference.ts',
    });
    model.dispose();
    dirs.push(dir);
  }
  const ort = onnxRuntimeStatus();
  const report: Record<string, unknown> = {
    network: 'seed002',
    secondsPerMeasurement: seconds,
    roundsPerMeasurement: rounds,
    machine: {
      cpu: os.cpus()[0]?.model,
      cores,
      loadAverage: os.loadavg().map((v) => Number(v.toFixed(2))),
      node: process.versions.node,
      tfjs: tf.version.tfjs,
      onnxRuntime: ort.reason,
      wasmThreads: wasm.getThreadsCount(),
    },
  };

  const exportStart = performance.now();
  const exported = await exportCheckpointToOnnx(dirs[0]!);
  report.exportSeconds = Number(((performance.now() - exportStart) / 1000).toFixed(2));
  report.onnxBytes = exported.bytes;

  const mnist = await readMnist('train');
  const calibration = async (): Promise<CalibrationSet> => ({ images: Float32Array.from(mnist.images.subarray(0, 1024 * 784), (v) => v / 255), count: 1024, source: '1,024 MNIST training images' });
  const precisions = ['int8', 'fp32'] as const;
  if (ort.available) {
    const byPrecision: Record<string, unknown> = {};
    for (const precision of precisions) {
      const onnx = await createOnnxPredictor(dirs[0]!, { threads: cores, batchSize: 256, precision, calibration });
      const results = [];
      for (const batch of batches) {
        log(`onnxruntime ${precision}: batch ${batch}…`);
        results.push(await throughput(onnx, batch));
      }
      onnx.dispose();
      byPrecision[precision] = results;
    }
    report.onnxRuntime = { intraOpThreads: cores, ...byPrecision };
  } else {
    report.onnxRuntime = { skipped: ort.reason };
  }

  const tfjs = await createTfjsPredictor(dirs[0]!, { batchSize: 256 });
  const tfjsResults = [];
  for (const batch of batches) {
    log(`tfjs-wasm: batch ${batch}…`);
    tfjsResults.push(await throughput(tfjs, batch));
  }
  tfjs.dispose();
  report.tfjsWasm = { kernels: 'XNNPACK (no ONNX Runtime kernels)', results: tfjsResults };

  const ensembles: Record<string, unknown> = {};
  for (const precision of ort.available ? precisions : []) {
    log(`ensemble ${precision}: ${members} members × ${TTA_8.length}-way TTA over ${ensembleImages} images on onnxruntime…`);
    const setupStart = performance.now();
    const predictors: Predictor[] = [];
    for (const dir of dirs) predictors.push(await createOnnxPredictor(dir, { threads: cores, precision, calibration, spin: false }));
    const setupSeconds = (performance.now() - setupStart) / 1000;
    const images = randomImages(ensembleImages);
    const start = performance.now();
    const probs = await predictEnsemble(predictors, images, ensembleImages, {
      tta: TTA_8,
      onProgress: (done, total) => {
        if (done % 2000 < 128 || done === total) log(`  ${done}/${total}`);
      },
    });
    const wall = (performance.now() - start) / 1000;
    for (const p of predictors) p.dispose();
    const rows = ensembleImages * members * TTA_8.length;
    ensembles[precision] = {
      members,
      tta: TTA_8.length,
      images: ensembleImages,
      outputs: probs.length / 10,
      setupSeconds: Number(setupSeconds.toFixed(2)),
      wallSeconds: Number(wall.toFixed(2)),
      imagesPerSecond: Math.round(ensembleImages / wall),
      memberForwardPassesPerSecond: Math.round(rows / wall),
    };
  }
  report.ensemble = ensembles;
  report.loadAverageAfter = os.loadavg().map((v) => Number(v.toFixed(2)));
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  await rm(root, { recursive: true, force: true });
}
