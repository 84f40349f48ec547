/**
 * Load bench of `digits serve`: a run of 5 freshly built seed002 members (speed does not
 * depend on the weights) served by the real CLI in a child process (`bin/dev.js serve`, ONNX
 * Runtime), hit with autocannon by single-image JSON requests (784 integers, as a CSV row) at
 * 1, 8, 32 and 128 concurrent connections. For each level: throughput, client-side p50/p99
 * latency, the mean batch the dynamic batcher formed, and where a request's time goes on the
 * server (parse: JSON to pixels; wait: batching queue; infer: its batch on the members; the
 * rest: HTTP, routing, response serialisation and event-loop contention), from /metrics.
 * Compared with offline throughput of the same ensemble (predictEnsemble on 2,048 images in
 * this process, server idle). Targets: at 32 clients p99 < 50 ms and throughput ≥ 50% of
 * offline. JSON on stdout, progress on stderr.
 *
 *   node --import tsx bench/serve.ts > serve-bench.json
 *   BENCH_SECONDS=3 BENCH_CONNECTIONS=1,32 node --import tsx bench/serve.ts   # shorter
 *
 * Knobs: BENCH_SECONDS (5 per level), BENCH_CONNECTIONS, BENCH_MEMBERS (5),
 * BENCH_WINDOW_MS (serve's --batch-window-ms, 3), BENCH_MAX_BATCH (256), BENCH_THREADS (serve's
 * --threads, default cores − 1). Offline is measured with the server's threads and with every
 * core, and the server is compared with the faster of the two.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initEngine } from '../src/engine/backend.js';
import { saveCheckpoint } from '../src/ensemble/checkpoint.js';
import { onnxRuntimeStatus, predictEnsemble } from '../src/ensemble/predictor.js';
import { buildModel } from '../src/ensemble/presets.js';
import { defaultServeThreads, loadServedEnsemble } from '../src/serve/ensemble.js';

/** The part of autocannon's API used here (the package ships no types). */
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; average: number; max: number };
  throughput: { average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
type Autocannon = (options: { url: string; method: string; headers: Record<string, string>; body: string; connections: number; duration: number; pipelining?: number }) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connectionLevels = (process.env.BENCH_CONNECTIONS ?? '1,8,32,128').split(',').map(Number);
const memberCount = Number(process.env.BENCH_MEMBERS ?? 5);
const windowMs = Number(process.env.BENCH_WINDOW_MS ?? 3);
const maxBatch = Number(process.env.BENCH_MAX_BATCH ?? 256);
const threads = Number(process.env.BENCH_THREADS ?? defaultServeThreads());
const offlineImages = 2048;
const log = (line: string) => process.stderr.write(`${line}\n`);

async function makeRun(root: string): Promise<string> {
  const runDir = path.join(root, 'run');
  await mkdir(runDir, { recursive: true });
  const members = [];
  for (let m = 0; m < memberCount; m++) {
    const name = `seed002-${m + 1}`;
    const model = buildModel('seed002', { seed: m + 1 });
    await saveCheckpoint(model, path.join(runDir, name, 'best'), {
      preset: 'seed002',
      hyperparameters: {},
      preprocessing: { scale: '0-1' },
      orientation: 'as-is',
      seed: m + 1,
      dataFingerprint: null,
      metrics: {},
      command: 'bench/serve.ts',
    });
    model.dispose();
    members.push({ name, preset: 'seed002', ok: true, checkpoint: `${name}/best`, split: { name: 'none', fold: 0 } });
  }
  const now = new Date().toISOString();
  const manifest = {
    format: 'digits-run',
    version: 1,
    name: 'bench-serve',
    ensemble: { name: 'bench', description: `${memberCount} freshly built seed002 members`, validation: { kind: 'shared', fraction: 0.1, seed: 1 }, members: [] },
    dataset: { dir: 'none (bench)', fingerprint: 'none' },
    createdAt: now,
    finishedAt: now,
    seconds: 0,
    command: 'bench/serve.ts',
    members,
  };
  await writeFile(path.join(runDir, 'run.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return runDir;
}

/** Offline: predictEnsemble over 2,048 images in one call (batched internally), after a warm-up. */
async function offlineThroughput(runDir: string, sessionThreads: number): Promise<{ threads: number; images: number; imagesPerSecond: number; seconds: number }> {
  const ensemble = await loadServedEnsemble(runDir, { infer: 'onnx', threads: sessionThreads });
  try {
    const predictors = ensemble.members.map((m) => m.predictor);
    const images = Float32Array.from({ length: offlineImages * 784 }, () => Math.random());
    await predictEnsemble(predictors, images.subarray(0, 256 * 784), 256);
    const runs = 3;
    const start = performance.now();
    for (let r = 0; r < runs; r++) await predictEnsemble(predictors, images, offlineImages);
    const elapsed = (performance.now() - start) / 1000;
    return { threads: sessionThreads, images: offlineImages * runs, imagesPerSecond: Math.round((offlineImages * runs) / elapsed), seconds: Number(elapsed.toFixed(3)) };
  } finally {
    ensemble.dispose();
  }
}

async function startServe(runDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(repo, 'bin/dev.js'), 'serve', '--run', runDir, '--port', '0', '--json', '--infer', 'onnx', '--batch-window-ms', String(windowMs), '--max-batch', String(maxBatch), '--threads', String(threads)], {
    cwd: repo,
    env: { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`digits serve exited with ${code} before listening`)));
  });
  return { child, url };
}

/** Sum and count of every histogram series in Prometheus text, keyed by name+labels. */
async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(digits_\w+(?:_sum|_count))(\{[^}]*\})? (\S+)$/.exec(line);
    if (match) values.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return values;
}

function meanDelta(before: Map<string, number>, after: Map<string, number>, family: string, labels = ''): number {
  const count = (after.get(`${family}_count${labels}`) ?? 0) - (before.get(`${family}_count${labels}`) ?? 0);
  const sum = (after.get(`${family}_sum${labels}`) ?? 0) - (before.get(`${family}_sum${labels}`) ?? 0);
  return count > 0 ? sum / count : 0;
}

const ms = (seconds: number) => Number((seconds * 1000).toFixed(2));

const root = await mkdtemp(path.join(os.tmpdir(), 'digits-bench-serve-'));
let server: { child: ChildProcess; url: string } | null = null;
try {
  await initEngine({ backend: 'wasm', ortKernels: false });
  const load = os.loadavg().map((v) => Number(v.toFixed(2)));
  log(`bench serve: ${memberCount} × seed002, load average ${load.join(' ')} on ${os.availableParallelism()} cores`);
  const runDir = await makeRun(root);
  const offlineRuns = [];
  for (const t of [...new Set([threads, os.availableParallelism()])]) {
    const result = await offlineThroughput(runDir, t);
    log(`offline predictEnsemble, ${t} thread${t > 1 ? 's' : ''}: ${result.imagesPerSecond} img/s (${offlineImages} images × 3)`);
    offlineRuns.push(result);
  }
  const offline = offlineRuns.reduce((best, r) => (r.imagesPerSecond > best.imagesPerSecond ? r : best));
  server = await startServe(runDir);
  const image = Array.from({ length: 784 }, () => Math.floor(Math.random() * 256));
  const body = JSON.stringify({ images: [image] });
  const target = `${server.url}/v1/predict`;
  // Warm-up: JIT, ONNX Runtime's first runs at each batch shape.
  await autocannon({ url: target, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 16, duration: 1 });
  const levels = [];
  for (const connections of connectionLevels) {
    const before = await scrape(server.url);
    const result = await autocannon({ url: target, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: seconds });
    const after = await scrape(server.url);
    const route = '{route="/v1/predict"}';
    const server_ = meanDelta(before, after, 'digits_http_request_duration_seconds', route);
    const parse = meanDelta(before, after, 'digits_predict_stage_seconds', '{stage="parse"}');
    const wait = meanDelta(before, after, 'digits_predict_stage_seconds', '{stage="wait"}');
    const infer = meanDelta(before, after, 'digits_predict_stage_seconds', '{stage="infer"}');
    const level = {
      connections,
      requestsPerSecond: Math.round(result.requests.average),
      requests: result.requests.total,
      imagesPerSecondVsOffline: Number((result.requests.average / offline.imagesPerSecond).toFixed(3)),
      latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, mean: Number(result.latency.average.toFixed(2)), max: result.latency.max },
      failures: { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx },
      meanBatchImages: Number(meanDelta(before, after, 'digits_batch_size_images').toFixed(2)),
      meanRequestsPerBatch: Number(meanDelta(before, after, 'digits_batch_requests').toFixed(2)),
      serverTimeMs: { total: ms(server_), parse: ms(parse), wait: ms(wait), infer: ms(infer), other: ms(Math.max(0, server_ - parse - wait - infer)) },
    };
    levels.push(level);
    log(
      `${String(connections).padStart(4)} conns: ${String(level.requestsPerSecond).padStart(6)} req/s (${(level.imagesPerSecondVsOffline * 100).toFixed(0)}% of offline), p50 ${level.latencyMs.p50} ms, p99 ${level.latencyMs.p99} ms, batch ${level.meanBatchImages} img; server ms: parse ${level.serverTimeMs.parse} wait ${level.serverTimeMs.wait} infer ${level.serverTimeMs.infer} other ${level.serverTimeMs.other}`,
    );
  }
  const at32 = levels.find((l) => l.connections === 32);
  const report = {
    bench: 'serve',
    members: `${memberCount} × seed002 (freshly built)`,
    request: 'POST /v1/predict, JSON {"images": [[784 integers 0–255]]}, 1 image per request',
    secondsPerLevel: seconds,
    batching: { windowMs, maxBatch },
    serveThreads: threads,
    machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), loadAverageAtStart: load, loadAverageAtEnd: os.loadavg().map((v) => Number(v.toFixed(2))), node: process.versions.node, onnxRuntime: onnxRuntimeStatus().reason },
    offline: { best: offline, runs: offlineRuns, what: `predictEnsemble over ${offlineImages} random images, one call (1024-row member calls), 3 times` },
    levels,
    targets: at32
      ? {
          p99Under50msAt32: at32.latencyMs.p99 < 50,
          throughputAtLeastHalfOfOfflineAt32: at32.imagesPerSecondVsOffline >= 0.5,
        }
      : null,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  if (server) {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server!.child.once('exit', resolve));
  }
  await rm(root, { recursive: true, force: true });
}
