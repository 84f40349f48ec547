/**
 * Load bench of `digits serve`: a run of 5 freshly built seed002 members (speed does not
 * depend on the weights) served by the real CLI in a child process (`bin/dev.js serve`, ONNX
 * Runtime), hit with autocannon by single-image JSON requests (784 integers, as a CSV row) at
 * 1, 8, 32 and 128 concurrent connections.
 *
 * Each serving mode is measured: the default (members in the inference worker pool, one
 * worker per core, 1 ONNX Runtime thread per session) and, for comparison, in process
 * (`--workers 0`: sessions on the HTTP thread with cores − 1 threads), in int8 (the members
 * get int8 exports calibrated on 1,024 MNIST training images, as `digits evaluate` makes them
 * for a trained run) and in fp32.
 *
 * For each level: throughput, client-side p50/p99 latency, and where the time goes, from the
 * server's /metrics: the mean batch (images, requests), ms per inference batch, a request's
 * server time split into parse / wait (batching queue) / infer (its batch) / the rest (HTTP,
 * routing, serialisation, event-loop contention), the event-loop delay (how late a 10 ms timer
 * fired: mean and p99), how busy the workers were, and the CPU the server process used.
 * Compared with offline throughput of the same ensemble at the same precision
 * (predictEnsemble on 2,048 images in this process, server stopped). Targets at 32 clients:
 * p99 < 50 ms and throughput ≥ 50% of offline. JSON on stdout, progress on stderr.
 *
 *   node --import tsx bench/serve.ts > serve-bench.json
 *   BENCH_SECONDS=3 BENCH_CONNECTIONS=1,32 BENCH_PRECISIONS=int8 node --import tsx bench/serve.ts   # shorter
 *
 * Knobs: BENCH_SECONDS (5 per level), BENCH_CONNECTIONS, BENCH_MEMBERS (5), BENCH_WINDOW_MS
 * (serve's --batch-window-ms, 3), BENCH_MAX_BATCH (256), BENCH_WORKERS (serve's --workers per
 * mode, default "<cores>,0"), BENCH_THREADS (serve's --threads; default: serve's own),
 * BENCH_PRECISIONS ("int8,fp32"). Offline is measured with cores − 1 threads and with every
 * core, and the server is compared with the faster of the two.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMnist } from '../src/data/mnist.js';
import { initEngine } from '../src/engine/backend.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import type { CalibrationSet } from '../src/onnx/quantize.js';
import { onnxRuntimeStatus } from '../src/engine/ort.js';
import { createOnnxPredictor } from '../src/inference/predictor.js';
import { predictEnsemble } from '../src/ensemble/predict-ensemble.js';
import { buildModel } from '../src/model/presets.js';
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
const cores = os.availableParallelism();
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connectionLevels = (process.env.BENCH_CONNECTIONS ?? '1,8,32,128').split(',').map(Number);
const memberCount = Number(process.env.BENCH_MEMBERS ?? 5);
const windowMs = Number(process.env.BENCH_WINDOW_MS ?? 3);
const maxBatch = Number(process.env.BENCH_MAX_BATCH ?? 256);
const workerModes = (process.env.BENCH_WORKERS ?? `${cores},0`).split(',').map(Number);
const threads = process.env.BENCH_THREADS ? Number(process.env.BENCH_THREADS) : null;
const precisions = (process.env.BENCH_PRECISIONS ?? 'int8,fp32').split(',') as Array<'int8' | 'fp32'>;
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

/** int8 exports of every member, calibrated on MNIST training images (what `digits evaluate` leaves in a trained run). */
async function makeInt8Exports(runDir: string): Promise<void> {
  const mnist = await readMnist('train');
  const calibration = async (): Promise<CalibrationSet> => ({ images: Float32Array.from(mnist.images.subarray(0, 1024 * 784), (v) => v / 255), count: 1024, source: '1,024 MNIST training images' });
  for (let m = 0; m < memberCount; m++) {
    const predictor = await createOnnxPredictor(path.join(runDir, `seed002-${m + 1}`, 'best'), { threads: 1, precision: 'int8', calibration });
    predictor.dispose();
  }
}

/** Offline: predictEnsemble over 2,048 images in one call (batched internally), after a warm-up. */
async function offlineThroughput(runDir: string, precision: 'int8' | 'fp32', sessionThreads: number): Promise<{ threads: number; images: number; imagesPerSecond: number; seconds: number }> {
  const ensemble = await loadServedEnsemble(runDir, { infer: 'onnx', precision, threads: sessionThreads, workers: 0 });
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
    await ensemble.dispose();
  }
}

interface Listening {
  url: string;
  inference: { mode: string; workers: number; threadsPerSession: number | null };
  members: Array<{ reason: string }>;
}

async function startServe(runDir: string, precision: string, workers: number): Promise<{ child: ChildProcess; listening: Listening }> {
  const args = ['serve', '--run', runDir, '--port', '0', '--json', '--infer', 'onnx', '--precision', precision, '--workers', String(workers), '--batch-window-ms', String(windowMs), '--max-batch', String(maxBatch)];
  if (threads) args.push('--threads', String(threads));
  const child = spawn(process.execPath, [path.join(repo, 'bin/dev.js'), ...args], {
    cwd: repo,
    env: { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  const listening = await new Promise<Listening>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve(JSON.parse(line) as Listening);
    });
    child.once('exit', (code) => reject(new Error(`digits serve exited with ${code} before listening`)));
  });
  return { child, listening };
}

async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Every `digits_*` sample of the Prometheus text, keyed by name+labels. */
async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(digits_\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match) values.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return values;
}

function delta(before: Map<string, number>, after: Map<string, number>, key: string): number {
  return (after.get(key) ?? 0) - (before.get(key) ?? 0);
}

function meanDelta(before: Map<string, number>, after: Map<string, number>, family: string, labels = ''): number {
  const count = delta(before, after, `${family}_count${labels}`);
  return count > 0 ? delta(before, after, `${family}_sum${labels}`) / count : 0;
}

/** The bucket bound under which `q` of the observations made between the scrapes fall. */
function quantileDelta(before: Map<string, number>, after: Map<string, number>, family: string, q: number): number | null {
  const count = delta(before, after, `${family}_count`);
  if (count <= 0) return null;
  const bounds = [...after.keys()]
    .map((k) => new RegExp(`^${family}_bucket\\{le="([^"]+)"\\}$`).exec(k)?.[1])
    .filter((b): b is string => b !== undefined && b !== '+Inf')
    .map(Number)
    .sort((x, y) => x - y);
  for (const bound of bounds) if (delta(before, after, `${family}_bucket{le="${bound}"}`) >= q * count) return bound;
  return Infinity;
}

/** CPU seconds (user + system) the process has used, from /proc (Linux); null elsewhere. */
function cpuSeconds(pid: number | undefined): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Busy and total jiffies of the whole machine, from /proc/stat (Linux); null elsewhere. */
function machineTicks(): { busy: number; total: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = fields[3]! + fields[4]!;
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

const ms = (seconds: number) => Number((seconds * 1000).toFixed(2));

async function measureServer(runDir: string, precision: 'int8' | 'fp32', workers: number, offlineImagesPerSecond: number) {
  const { child, listening } = await startServe(runDir, precision, workers);
  try {
    const url = listening.url;
    const image = Array.from({ length: 784 }, () => Math.floor(Math.random() * 256));
    const body = JSON.stringify({ images: [image] });
    // (tta=false said: an unevaluated run is served with the 8 shifts by default, as it is submitted)
    const target = `${url}/v1/predict?tta=false`;
    // Warm-up: JIT, ONNX Runtime's first runs at each batch shape.
    await autocannon({ url: target, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: 16, duration: 1 });
    const levels = [];
    for (const connections of connectionLevels) {
      const before = await scrape(url);
      const cpuBefore = cpuSeconds(child.pid);
      const ticksBefore = machineTicks();
      const benchBefore = process.cpuUsage();
      const result = await autocannon({ url: target, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: seconds });
      const cpuAfter = cpuSeconds(child.pid);
      const ticksAfter = machineTicks();
      const benchCpu = process.cpuUsage(benchBefore);
      const after = await scrape(url);
      const route = '{route="/v1/predict"}';
      const server = meanDelta(before, after, 'digits_http_request_duration_seconds', route);
      const parse = meanDelta(before, after, 'digits_predict_stage_seconds', '{stage="parse"}');
      const wait = meanDelta(before, after, 'digits_predict_stage_seconds', '{stage="wait"}');
      const infer = meanDelta(before, after, 'digits_predict_stage_seconds', '{stage="infer"}');
      const workerKeys = [...after.keys()].filter((k) => k.startsWith('digits_inference_worker_busy_seconds_total{'));
      const busy = workerKeys.reduce((sum, k) => sum + delta(before, after, k), 0);
      const p99Lag = quantileDelta(before, after, 'digits_event_loop_delay_seconds', 0.99);
      const level = {
        connections,
        requestsPerSecond: Math.round(result.requests.average),
        requests: result.requests.total,
        imagesPerSecondVsOffline: Number((result.requests.average / offlineImagesPerSecond).toFixed(3)),
        latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, mean: Number(result.latency.average.toFixed(2)), max: result.latency.max },
        failures: { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx },
        meanBatchImages: Number(meanDelta(before, after, 'digits_batch_size_images').toFixed(2)),
        meanRequestsPerBatch: Number(meanDelta(before, after, 'digits_batch_requests').toFixed(2)),
        inferMsPerBatch: ms(meanDelta(before, after, 'digits_batch_infer_seconds')),
        serverTimeMs: { total: ms(server), parse: ms(parse), wait: ms(wait), infer: ms(infer), other: ms(Math.max(0, server - parse - wait - infer)) },
        eventLoopDelayMs: { mean: ms(meanDelta(before, after, 'digits_event_loop_delay_seconds')), p99AtMost: p99Lag === null ? null : p99Lag === Infinity ? 'over 1000' : ms(p99Lag) },
        // share of the workers' wall time spent computing member calls (null in process)
        workerBusy: workerKeys.length ? Number((busy / (seconds * workerKeys.length)).toFixed(3)) : null,
        // cores used: by the server process, by autocannon (this process), by the whole machine
        // (the rest is other processes: on a small shared machine they take cores from the server)
        cpuCores: {
          server: cpuBefore !== null && cpuAfter !== null ? Number(((cpuAfter - cpuBefore) / seconds).toFixed(2)) : null,
          loadGenerator: Number(((benchCpu.user + benchCpu.system) / 1e6 / seconds).toFixed(2)),
          machine: ticksBefore && ticksAfter ? Number((((ticksAfter.busy - ticksBefore.busy) / (ticksAfter.total - ticksBefore.total)) * cores).toFixed(2)) : null,
        },
      };
      levels.push(level);
      log(
        `${String(connections).padStart(4)} conns: ${String(level.requestsPerSecond).padStart(6)} req/s (${(level.imagesPerSecondVsOffline * 100).toFixed(0)}% of offline), p50 ${level.latencyMs.p50} ms, p99 ${level.latencyMs.p99} ms; batch ${level.meanBatchImages} img in ${level.inferMsPerBatch} ms; server ms: parse ${level.serverTimeMs.parse} wait ${level.serverTimeMs.wait} infer ${level.serverTimeMs.infer} other ${level.serverTimeMs.other}; loop delay mean ${level.eventLoopDelayMs.mean} ms p99 ≤ ${level.eventLoopDelayMs.p99AtMost} ms; workers busy ${level.workerBusy ?? '-'}; cores used: server ${level.cpuCores.server ?? '-'}, autocannon ${level.cpuCores.loadGenerator}, machine ${level.cpuCores.machine ?? '-'}`,
      );
    }
    const at32 = levels.find((l) => l.connections === 32);
    return {
      inference: listening.inference,
      memberRuntime: listening.members[0]?.reason,
      levels,
      targets: at32 ? { p99Under50msAt32: at32.latencyMs.p99 < 50, throughputAtLeastHalfOfOfflineAt32: at32.imagesPerSecondVsOffline >= 0.5 } : null,
    };
  } finally {
    await stopServe(child);
  }
}

const root = await mkdtemp(path.join(os.tmpdir(), 'digits-bench-serve-'));
try {
  await initEngine({ backend: 'wasm', ortKernels: false });
  const load = os.loadavg().map((v) => Number(v.toFixed(2)));
  log(`bench serve: ${memberCount} × seed002, load average ${load.join(' ')} on ${cores} cores`);
  const runDir = await makeRun(root);
  if (precisions.includes('int8')) {
    log('int8 exports, calibrated on 1,024 MNIST training images…');
    await makeInt8Exports(runDir);
  }
  const byPrecision: Record<string, unknown> = {};
  for (const precision of precisions) {
    const offlineRuns = [];
    for (const t of [...new Set([defaultServeThreads(), cores])]) {
      const result = await offlineThroughput(runDir, precision, t);
      log(`${precision} offline predictEnsemble, ${t} thread${t > 1 ? 's' : ''}: ${result.imagesPerSecond} img/s (${offlineImages} images × 3)`);
      offlineRuns.push(result);
    }
    const offline = offlineRuns.reduce((best, r) => (r.imagesPerSecond > best.imagesPerSecond ? r : best));
    const servers: Record<string, unknown> = {};
    for (const workers of workerModes) {
      const name = workers === 0 ? 'in-process' : `workers-${workers}`;
      log(`${precision} serve --workers ${workers}${threads ? ` --threads ${threads}` : ''}:`);
      servers[name] = await measureServer(runDir, precision, workers, offline.imagesPerSecond);
    }
    byPrecision[precision] = {
      offline: { best: offline, runs: offlineRuns, what: `predictEnsemble over ${offlineImages} random images, one call (1024-row member calls), 3 times, sessions in this process` },
      servers,
    };
  }
  const report = {
    bench: 'serve',
    members: `${memberCount} × seed002 (freshly built${precisions.includes('int8') ? '; int8 exports calibrated on 1,024 MNIST training images' : ''})`,
    request: 'POST /v1/predict?tta=false, JSON {"images": [[784 integers 0–255]]}, 1 image per request',
    secondsPerLevel: seconds,
    batching: { windowMs, maxBatch },
    serveThreads: threads ?? 'serve default (1 per session in workers; cores − 1 in process)',
    machine: { cpu: os.cpus()[0]?.model, cores, loadAverageAtStart: load, loadAverageAtEnd: os.loadavg().map((v) => Number(v.toFixed(2))), node: process.versions.node, onnxRuntime: onnxRuntimeStatus().reason },
    precisions: byPrecision,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  await rm(root, { recursive: true, force: true });
}
