/**
 * Hostile input and overload on `digits serve` and `digits data import` (issue 14). Four parts,
 * each against the real thing: the CLI's server in a child process (`bin/dev.js serve`, 2
 * freshly built mlp members on ONNX Runtime in the inference workers), and the importer
 * in a child process of its own. Figures as JSON on stdout, progress on stderr. The members are
 * tiny (2 × the mlp preset, freshly built): what is measured is how the server holds up, not
 * how fast a model computes (bench/serve.ts measures that); the machine's load average is
 * recorded beside each part, since its cores are shared.
 *
 * A. The malformed-request suite: BENCH_MALFORMED (1,600) requests of ~45 kinds, 8 at a time,
 *    after 24 decoding bombs (16 × 2000×2000 PNGs of 15 KB each, or 16 × 4 MP JPEGs) sent one
 *    after another (one hostile client; concurrent bombs are part B's overload, where a 503
 *    is the right answer). Counted: responses in the 5xx range, and errors not in our
 *    {error, hint} shape. Target: 0 and 0.
 * B. Overload: for BENCH_OVERLOAD_SECONDS (60), 3 clients send worst-case uploads in a loop
 *    (multipart, 16 JPEGs of 2000×2000, each at the 4 MP limit, with TTA) while one client
 *    asks /healthz every 20 ms, one posts single-image JSON predictions every 20 ms and one
 *    posts a 280×280 PNG (what the pad sends) every 50 ms. Server RSS (VmRSS of the serve
 *    process, its worker threads included, plus its child processes: the image decoders) is
 *    sampled every 200 ms, during the load and for 30 s after. Targets: /healthz p99 < 50 ms,
 *    single-image p99 < 100 ms, RSS < 1 GB throughout and within 20% of its start 30 s after.
 * C. SIGTERM with 20 large requests in flight (256 images with TTA each, --grace-period 30):
 *    all 20 answered, within the grace period, and the exit code 0.
 * D. Import of a train.csv of 2,000 valid rows followed by 2 GB of NUL bytes (sparse, made
 *    with truncate): fails in < 5 s with < 300 MB RSS, naming the line.
 *
 *   node --import tsx bench/hostile.ts > hostile-bench.json
 *   BENCH_OVERLOAD_SECONDS=20 BENCH_MALFORMED=400 node --import tsx bench/hostile.ts   # shorter
 *   BENCH_PARTS=AB BENCH_MALFORMED=24 node --import tsx bench/hostile.ts   # the bombs, then the overload and its RSS
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (line: string) => process.stderr.write(`${line}\n`);
const malformedTotal = Number(process.env.BENCH_MALFORMED ?? 1600);
const overloadSeconds = Number(process.env.BENCH_OVERLOAD_SECONDS ?? 60);
const settleSeconds = Number(process.env.BENCH_SETTLE_SECONDS ?? 30);
/** the parts to run (default all: ABCD) */
const parts = new Set((process.env.BENCH_PARTS ?? 'ABCD').toUpperCase().split(''));

/* ---------- part D runs in its own process: `bench/hostile.ts --import-child <dir>` ---------- */

if (process.argv[2] === '--import-child') {
  const { importCompetition, resolveCompetitionFiles } = await import('../src/data/import.js');
  const started = performance.now();
  let outcome: Record<string, unknown>;
  try {
    await importCompetition(await resolveCompetitionFiles([process.argv[3]!]));
    outcome = { failed: false };
  } catch (error) {
    const e = error as Error & { where?: { line?: number } };
    outcome = { failed: true, message: e.message, line: e.where?.line ?? null };
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ ...outcome, seconds, maxRssMB: process.resourceUsage().maxRSS / 1024 })}\n`);
  process.exit(0);
}

/* ---------- part B's uploaders run in their own process: `bench/hostile.ts --uploaders <port> <seconds>` ---------- */

if (process.argv[2] === '--uploaders') {
  // (in a process of their own, so their work does not delay the probes' clocks)
  const port = Number(process.argv[3]);
  const until = performance.now() + Number(process.argv[4]) * 1000;
  const jpeg4mp = Buffer.from(jpeg.encode({ data: sevenRgba(2000, 2000), width: 2000, height: 2000 }, 90).data);
  const worst = multipart(new Array(16).fill(jpeg4mp), { tta: 'true' });
  const statuses = new Map<number, number>();
  const uploader = async () => {
    while (performance.now() < until) {
      const answer = await viaFetch(port, '/v1/predict', { 'content-type': worst.type }, worst.body);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    }
  };
  process.stdout.write('ready\n');
  await Promise.all([uploader(), uploader(), uploader()]);
  process.stdout.write(`${JSON.stringify({ statuses: Object.fromEntries(statuses), bytes: worst.body.length })}\n`);
  process.exit(0);
}

/* ---------- the run and the server ---------- */

async function makeRun(root: string): Promise<string> {
  const { initEngine } = await import('../src/engine/backend.js');
  const { saveCheckpoint } = await import('../src/model/checkpoint.js');
  const { buildModel } = await import('../src/model/presets.js');
  await initEngine({ backend: 'wasm', ortKernels: false });
  const runDir = path.join(root, 'run');
  await mkdir(runDir, { recursive: true });
  const members = [];
  for (let m = 0; m < 2; m++) {
    const name = `mlp-${m + 1}`;
    const model = buildModel('mlp', { seed: m + 1 });
    await saveCheckpoint(model, path.join(runDir, name, 'best'), { preset: 'mlp', hyperparameters: {}, preprocessing: { scale: '0-1' }, orientation: 'as-is', seed: m + 1, dataFingerprint: null, metrics: {}, command: 'bench/hostile.ts' });
    model.dispose();
    members.push({ name, preset: 'mlp', ok: true, checkpoint: `${name}/best`, split: { name: 'none', fold: 0 } });
  }
  const now = new Date().toISOString();
  const manifest = { format: 'digits-run', version: 1, name: 'bench-hostile', ensemble: { name: 'bench', description: '2 freshly built mlp members', validation: { kind: 'shared', fraction: 0.1, seed: 1 }, members: [] }, dataset: { dir: 'none (bench)', fingerprint: 'none' }, createdAt: now, finishedAt: now, seconds: 0, command: 'bench/hostile.ts', members };
  await writeFile(path.join(runDir, 'run.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return runDir;
}

interface Serve {
  child: ChildProcess;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function startServe(runDir: string, extra: string[] = []): Promise<Serve> {
  const child = spawn(process.execPath, [path.join(repo, 'bin/dev.js'), 'serve', '--run', runDir, '--port', '0', '--json', '--infer', 'onnx', '--log-level', 'silent', ...extra], {
    cwd: repo,
    env: { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      const line = stdout.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    void exited.then((code) => reject(new Error(`digits serve exited with ${code} before listening: ${stderr}`)));
  });
  return { child, port, stdout: () => stdout, stderr: () => stderr, exited };
}

function rssMB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return 0; // (a child that has just exited)
  }
}

/** The child processes of `pid` and theirs (the serve process's image decoders). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const child of children.trim().split(/\s+/).filter(Boolean).map(Number)) out.push(child, ...descendants(child));
  }
  return out;
}

/** VmRSS of the serve process and of its child processes, summed (pages they share are counted in each), and of the serve process alone. */
function serverRss(pid: number): { mb: number; serveProcessMB: number; processes: number } {
  const serveProcessMB = rssMB(pid);
  const children = descendants(pid);
  return { mb: serveProcessMB + children.reduce((sum, child) => sum + rssMB(child), 0), serveProcessMB, processes: 1 + children.length };
}

/* ---------- HTTP helpers ---------- */

interface Answer {
  status: number;
  text: string;
  ms: number;
  error?: string;
}

function request(port: number, method: string, route: string, headers: Record<string, string>, body?: Buffer | string, agent?: http.Agent): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: route, headers: agent ? headers : { connection: 'close', ...headers }, agent: agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), ms: performance.now() - t0 }));
      res.on('error', (e) => resolve({ status: 0, text: '', ms: performance.now() - t0, error: e.message }));
    });
    // A server that refuses a body before reading it may close while we still send: the answer may still have come.
    req.on('error', (e) => resolve({ status: 0, text: '', ms: performance.now() - t0, error: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.end(body);
  });
}

/**
 * Large bodies go through fetch (undici): a server that refuses a body before reading it
 * answers and closes while the client still sends, and undici still reads that answer
 * (node:http reports EPIPE instead). A chunked body is sent as a stream.
 */
async function viaFetch(port: number, route: string, headers: Record<string, string>, body: Buffer | string): Promise<Answer> {
  const t0 = performance.now();
  const { 'transfer-encoding': chunked, ...rest } = headers;
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const payload = chunked
    ? new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < bytes.length; at += 65536) controller.enqueue(bytes.subarray(at, at + 65536));
          controller.close();
        },
      })
    : bytes;
  try {
    const response = await fetch(`http://127.0.0.1:${port}${route}`, { method: 'POST', headers: rest, body: payload, duplex: 'half' } as RequestInit);
    return { status: response.status, text: await response.text(), ms: performance.now() - t0 };
  } catch (error) {
    return { status: 0, text: '', ms: performance.now() - t0, error: String((error as Error & { cause?: Error }).cause?.message ?? error) };
  }
}

function raw(port: number, bytes: string): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text: text.slice(text.indexOf('\r\n\r\n') + 4), ms: performance.now() - t0 });
    });
    socket.write(bytes);
    setTimeout(() => socket.destroy(), 10_000);
  });
}

function inOurShape(text: string): boolean {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    return Object.keys(body).sort().join(',') === 'error,hint' && typeof body.error === 'string' && typeof body.hint === 'string';
  } catch {
    return false;
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN;
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

/* ---------- images ---------- */

function sevenRgba(width: number, height: number): Buffer {
  const data = Buffer.alloc(width * height * 4);
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 10));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      const top = v > 0.2 && v < 0.2 + stroke / height && u > 0.3 && u < 0.72;
      const t = (v - 0.2) / 0.62;
      const diagonal = t >= 0 && t <= 1 && Math.abs(u - (0.7 - 0.28 * t)) < stroke / width / 1.5;
      const g = top || diagonal ? 20 : 235;
      data.fill(g, 4 * (y * width + x), 4 * (y * width + x) + 3);
      data[4 * (y * width + x) + 3] = 255;
    }
  }
  return data;
}

function png(width: number, height: number, data?: Buffer): Buffer {
  const image = new PNG({ width, height });
  if (data) data.copy(image.data);
  return PNG.sync.write(image);
}

function multipart(files: Buffer[], fields: Record<string, string> = {}, boundary = 'hostilebench'): { body: Buffer; type: string } {
  const parts: Buffer[] = [];
  files.forEach((file, i) => parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f${i}"; filename="f${i}"\r\nContent-Type: application/octet-stream\r\n\r\n`), file, Buffer.from('\r\n')));
  for (const [name, value] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

function declaring(bytes: Buffer, width: number, height: number): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeUInt32BE(width, 16);
  copy.writeUInt32BE(height, 20);
  return copy;
}

function jpegDeclaring(width: number, height: number): Buffer {
  const sof0 = [0xff, 0xc0, 0x00, 0x11, 0x08, height >> 8, height & 255, width >> 8, width & 255, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01];
  return Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.from(sof0), Buffer.alloc(700_000, 0x5a)]);
}

const pixels = Array.from({ length: 784 }, (_, i) => (i % 28 >= 13 && i % 28 <= 15 && i >= 4 * 28 && i < 24 * 28 ? 255 : 0));

/* ---------- A. malformed requests ---------- */

async function malformedSuite(port: number, bombs: { pngBomb: Buffer; jpeg4mp: Buffer }) {
  const json = { 'content-type': 'application/json' };
  const good = JSON.stringify({ images: [pixels] });
  const small = png(40, 40, sevenRgba(40, 40));
  const big3 = Buffer.concat([small, Buffer.alloc(3_000_000, 1)]);
  const over = multipart([big3, big3, big3]);
  const seventeen = multipart(Array.from({ length: 17 }, () => small));
  type Kind = { name: string; send: () => Promise<Answer> };
  const post = (route: string, headers: Record<string, string>, body: Buffer | string) => () => (body.length > 1e6 ? viaFetch(port, route, headers, body) : request(port, 'POST', route, headers, body));
  const kinds: Kind[] = [
    { name: 'short image', send: post('/v1/predict', json, JSON.stringify({ images: [[1, 2, 3]] })) },
    { name: 'NaN pixel', send: post('/v1/predict', json, JSON.stringify({ images: [[...pixels.slice(0, 783), 'NaN']] })) },
    { name: 'out of range', send: post('/v1/predict', json, JSON.stringify({ images: [[300, ...pixels.slice(1)]] })) },
    { name: 'flat array', send: post('/v1/predict', json, JSON.stringify({ images: pixels })) },
    { name: 'too many images', send: post('/v1/predict', json, JSON.stringify({ images: new Array(257).fill(pixels) })) },
    { name: 'JSON body over 8 MiB', send: post('/v1/predict', json, JSON.stringify({ images: [pixels], pad: 'x'.repeat(9 * 2 ** 20) })) },
    { name: 'invalid JSON', send: post('/v1/predict', json, '{"images": [[1,2') },
    { name: 'deeply nested JSON', send: post('/v1/predict', json, `{"images":${'['.repeat(50_000)}${']'.repeat(50_000)}}`) },
    { name: 'proto poisoning', send: post('/v1/predict', json, '{"__proto__": {"images": 1}}') },
    { name: 'empty JSON', send: post('/v1/predict', json, '') },
    { name: 'bad tta', send: post('/v1/predict?tta=maybe', json, good) },
    { name: 'unknown member', send: post('/v1/predict?members=nobody', json, good) },
    { name: 'text/plain', send: post('/v1/predict', { 'content-type': 'text/plain' }, 'hello') },
    { name: 'no content type', send: post('/v1/predict', {}, Buffer.from([1, 2, 3])) },
    { name: 'corrupt PNG', send: post('/v1/predict', { 'content-type': 'image/png' }, small.subarray(0, 50)) },
    { name: 'random bytes as PNG', send: post('/v1/predict', { 'content-type': 'image/png' }, Buffer.alloc(300, 7)) },
    { name: 'empty PNG', send: post('/v1/predict', { 'content-type': 'image/png' }, Buffer.alloc(0)) },
    { name: 'corrupt JPEG', send: post('/v1/predict', { 'content-type': 'image/jpeg' }, Buffer.from([0xff, 0xd8, 0xff, 0xdb, 1, 2, 3, 4, 5])) },
    { name: 'JPEG without a frame header', send: post('/v1/predict', { 'content-type': 'image/jpeg' }, Buffer.from([0xff, 0xd8, 0xff, 0xd9])) },
    { name: 'PNG declaring 4096×4096', send: post('/v1/predict', { 'content-type': 'image/png' }, declaring(small, 4096, 4096)) },
    { name: 'PNG declaring 100000×100000', send: post('/v1/predict', { 'content-type': 'image/png' }, declaring(small, 100_000, 100_000)) },
    { name: 'JPEG declaring 4800×4800', send: post('/v1/predict', { 'content-type': 'image/jpeg' }, jpegDeclaring(4800, 4800)) },
    { name: 'blank PNG', send: post('/v1/predict', { 'content-type': 'image/png' }, png(20, 20)) },
    { name: '17 files', send: post('/v1/predict', { 'content-type': seventeen.type }, seventeen.body) },
    { name: 'multipart of 9 MB (3 files of 3 MB)', send: post('/v1/predict', { 'content-type': over.type }, over.body) },
    { name: 'chunked multipart of 9 MB', send: post('/v1/predict', { 'content-type': over.type, 'transfer-encoding': 'chunked' }, over.body) },
    { name: 'multipart with a 4096×4096 file', send: () => { const f = multipart([small, declaring(small, 4096, 4096)]); return request(port, 'POST', '/v1/predict', { 'content-type': f.type }, f.body); } },
    { name: 'multipart unknown field', send: () => { const f = multipart([small], { color: 'red' }); return request(port, 'POST', '/v1/predict', { 'content-type': f.type }, f.body); } },
    { name: 'multipart without files', send: () => { const f = multipart([], { tta: 'true' }); return request(port, 'POST', '/v1/predict', { 'content-type': f.type }, f.body); } },
    { name: 'broken multipart', send: post('/v1/predict', { 'content-type': 'multipart/form-data; boundary=zz' }, '--zz\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\n\r\nabc') },
    { name: 'declared 100 MB body', send: () => raw(port, 'POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000000\r\n\r\n') },
    { name: 'unknown route', send: () => request(port, 'GET', '/v2/predict', {}) },
    { name: 'GET predict (405)', send: () => request(port, 'GET', '/v1/predict', {}) },
    { name: 'DELETE healthz (405)', send: () => request(port, 'DELETE', '/healthz', {}) },
    { name: 'malformed URL', send: () => raw(port, 'GET /v1/%zz%% HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n') },
    { name: 'malformed request line', send: () => raw(port, 'HELLO THERE\r\n\r\n') },
    { name: 'header overflow', send: () => raw(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`) },
    { name: 'bad Content-Length', send: () => raw(port, 'POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}') },
    { name: 'correction bad label', send: post('/v1/corrections', json, JSON.stringify({ image: pixels, label: 12 })) },
    { name: 'correction over 64 KiB', send: post('/v1/corrections', json, JSON.stringify({ image: pixels, label: 1, pad: 'x'.repeat(70_000) })) },
    { name: 'correction from a rebinding host', send: post('/v1/corrections', { ...json, host: 'attacker.example' }, JSON.stringify({ image: pixels, label: 1 })) },
    { name: 'correction from a foreign origin', send: post('/v1/corrections', { ...json, origin: 'http://attacker.example' }, JSON.stringify({ image: pixels, label: 1 })) },
    { name: 'correction as PNG', send: post('/v1/corrections', { 'content-type': 'image/png' }, small) },
  ];
  const bombKinds: Kind[] = [
    { name: 'decoding bomb: 16 × 2000×2000 PNG (15 KB each)', send: () => { const f = multipart(new Array(16).fill(bombs.pngBomb)); return request(port, 'POST', '/v1/predict', { 'content-type': f.type }, f.body); } },
    { name: 'decoding bomb: 16 × 4 MP JPEG with TTA', send: () => { const f = multipart(new Array(16).fill(bombs.jpeg4mp), { tta: 'true' }); return request(port, 'POST', '/v1/predict', { 'content-type': f.type }, f.body); } },
  ];
  const statuses = new Map<number, number>();
  const byKind = new Map<string, Set<number>>();
  let fiveXX = 0;
  let notOurShape = 0;
  const problems: string[] = [];
  const record = (name: string, answer: Answer) => {
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    byKind.set(name, (byKind.get(name) ?? new Set()).add(answer.status));
    if (answer.status >= 500 || answer.status === 0) {
      fiveXX += answer.status >= 500 ? 1 : 0;
      if (problems.length < 10) problems.push(`${name}: ${answer.status} ${answer.error ?? ''} ${answer.text.slice(0, 200)}`);
    }
    if (answer.status >= 400 && !inOurShape(answer.text)) {
      notOurShape++;
      if (problems.length < 10) problems.push(`${name}: not our shape: ${answer.text.slice(0, 200)}`);
    }
  };
  const started = performance.now();
  let done = 0;
  let bombsSent = 0;
  let next = 0;
  const bombTotal = 24;
  // The bombs, one after another (a single hostile client), beside the 8 concurrent others.
  for (let i = 0; i < bombTotal; i++) {
    const kind = bombKinds[i % 8 === 7 ? 1 : 0]!;
    record(kind.name, await kind.send());
    bombsSent++;
  }
  const lane = async () => {
    while (next < malformedTotal - bombTotal) {
      const kind = kinds[next++ % kinds.length]!;
      record(kind.name, await kind.send());
      done++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return {
    requests: done + bombsSent,
    kinds: kinds.length + bombKinds.length,
    decodingBombRequests: bombsSent,
    seconds: round((performance.now() - started) / 1000),
    responses5xx: fiveXX,
    errorsNotInOurShape: notOurShape,
    statuses: Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])),
    statusesByKind: Object.fromEntries([...byKind].map(([k, v]) => [k, [...v].sort()])),
    problems,
  };
}

/* ---------- B. overload ---------- */

async function overload(serve: Serve, padPng: Buffer) {
  const { port } = serve;
  const pid = serve.child.pid!;
  const rss: Array<{ t: number; mb: number; serveProcessMB: number; processes: number }> = [];
  const t0 = performance.now();
  const sampler = setInterval(() => rss.push({ t: (performance.now() - t0) / 1000, ...serverRss(pid) }), 200);
  const start = serverRss(pid);
  const startRss = start.mb;
  let running = true;
  const uploaders = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--uploaders', String(port), String(overloadSeconds)], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  let uploadsOut = '';
  uploaders.stdout.on('data', (c: Buffer) => (uploadsOut += c.toString()));
  const uploadersDone = new Promise((r) => uploaders.once('exit', r));
  while (!uploadsOut.includes('ready')) await new Promise((r) => setTimeout(r, 50));
  const every = async (ms: number, send: (agent: http.Agent) => Promise<Answer>) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const times: number[] = [];
    const statuses = new Map<number, number>();
    while (running) {
      const started = performance.now();
      const answer = await send(agent);
      times.push(answer.ms);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, Math.max(0, ms - (performance.now() - started))));
    }
    agent.destroy();
    return { count: times.length, p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), max: round(Math.max(...times)), statuses: Object.fromEntries(statuses) };
  };
  const single = JSON.stringify({ images: [pixels] });
  const probes = Promise.all([
    every(20, (agent) => request(port, 'GET', '/healthz', {}, undefined, agent)),
    // (tta=false said: the run is not evaluated, and would be served with the 8 shifts by default)
    every(20, (agent) => request(port, 'POST', '/v1/predict?tta=false', { 'content-type': 'application/json' }, single, agent)),
    every(50, (agent) => request(port, 'POST', '/v1/predict?tta=false', { 'content-type': 'image/png' }, padPng, agent)),
  ]);
  await uploadersDone;
  running = false;
  const [healthz, singleImage, padImage] = await probes;
  const uploads = JSON.parse(uploadsOut.trim().split('\n').pop()!) as { statuses: Record<string, number>; bytes: number };
  const loadEnd = (performance.now() - t0) / 1000;
  log(`  load over; idle ${settleSeconds} s…`);
  await new Promise((r) => setTimeout(r, settleSeconds * 1000));
  clearInterval(sampler);
  const end = serverRss(pid);
  const endRss = end.mb;
  const during = rss.filter((s) => s.t <= loadEnd);
  return {
    seconds: overloadSeconds,
    worstCaseUpload: `multipart of 16 JPEGs of 2000×2000 (4 MP each, ${(uploads.bytes / 1e6).toFixed(2)} MB) with tta=true, 3 clients in a loop (a process of their own)`,
    uploads: uploads.statuses,
    healthzMs: healthz,
    singleImageJsonMs: singleImage,
    padPng280Ms: padImage,
    rssMB: { start: round(startRss), maxDuringLoad: round(Math.max(...during.map((s) => s.mb))), after30sIdle: round(endRss), afterVsStart: `${round((100 * (endRss - startRss)) / startRss)}%` },
    rssNote: 'serve process + its child processes (image decoders), summed',
    serveProcessAloneRssMB: { start: round(start.serveProcessMB), maxDuringLoad: round(Math.max(...during.map((s) => s.serveProcessMB))), after30sIdle: round(end.serveProcessMB) },
    processes: { start: start.processes, maxDuringLoad: Math.max(...during.map((s) => s.processes)), after30sIdle: end.processes },
  };
}

/* ---------- C. SIGTERM with 20 large requests in flight ---------- */

async function sigtermDrain(runDir: string) {
  const serve = await startServe(runDir, ['--grace-period', '30']);
  const body = JSON.stringify({ images: new Array(256).fill(pixels), tta: true });
  const requests = Array.from({ length: 20 }, () => request(serve.port, 'POST', '/v1/predict', { 'content-type': 'application/json' }, body));
  for (let i = 0; i < 1000; i++) {
    const metrics = (await request(serve.port, 'GET', '/metrics', {})).text;
    if (Number(/^digits_http_requests_in_flight (\d+)/m.exec(metrics)?.[1] ?? 0) >= 21) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const signalled = performance.now();
  serve.child.kill('SIGTERM');
  const answers = await Promise.all(requests.map((r) => r.then((a) => ({ ...a, afterSignal: (performance.now() - signalled) / 1000 }))));
  const code = await serve.exited;
  const statuses = new Map<number, number>();
  for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
  const stopped = serve.stdout().split('\n').find((l) => l.includes('"stopped"'));
  return {
    requests: '20 × 256 images with TTA (2,048 rows per member each), --grace-period 30',
    statuses: Object.fromEntries(statuses),
    answered: answers.filter((a) => a.status === 200).length,
    lastAnswerAfterSignalSeconds: round(Math.max(...answers.map((a) => a.afterSignal))),
    exitCode: code,
    stoppedEvent: stopped ? JSON.parse(stopped) : null,
  };
}

/* ---------- D. import of a NUL tail ---------- */

async function importNulTail(root: string) {
  const dir = path.join(root, 'nul-tail');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'train.csv');
  const header = ['label', ...Array.from({ length: 784 }, (_, i) => `pixel${i}`)].join(',');
  const rows = Array.from({ length: 2000 }, (_, r) => [r % 10, ...pixels.map((v, i) => (v && (i + r) % 3 ? v - (r % 50) : 0))].join(','));
  await writeFile(file, `${header}\n${rows.join('\n')}\n`);
  const validBytes = (await stat(file)).size;
  await truncate(file, validBytes + 2 * 1024 ** 3);
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--import-child', dir], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const started = performance.now();
  await new Promise((r) => child.once('exit', r));
  const wall = (performance.now() - started) / 1000;
  const result = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
  return { file: `2,000 valid rows (${(validBytes / 1e6).toFixed(1)} MB), then 2 GiB of NUL bytes (sparse)`, ...result, seconds: round(result.seconds as number, 2), maxRssMB: round(result.maxRssMB as number), processWallSeconds: round(wall, 2) };
}

/* ---------- main ---------- */

const root = await mkdtemp(path.join(os.tmpdir(), 'digits-hostile-bench-'));
try {
  log('building the run (2 × mlp) and the images…');
  const runDir = await makeRun(root);
  const pngBomb = png(2000, 2000);
  const jpeg4mp = Buffer.from(jpeg.encode({ data: sevenRgba(2000, 2000), width: 2000, height: 2000 }, 90).data);
  const padPng = png(280, 280, sevenRgba(280, 280));

  const load = () => os.loadavg().map((v) => round(v, 2));
  const loadAverage: Record<string, number[]> = {};
  let importResult: Awaited<ReturnType<typeof importNulTail>> | null = null;
  if (parts.has('D')) {
    log('D. import of the 2 GB NUL-tail file…');
    importResult = await importNulTail(root);
    log(`   ${JSON.stringify(importResult)}`);
  }

  let malformed: Awaited<ReturnType<typeof malformedSuite>> | null = null;
  let overloaded: Awaited<ReturnType<typeof overload>> | null = null;
  let firstExit: number | null = null;
  if (parts.has('A') || parts.has('B')) {
    log('starting digits serve…');
    const serve = await startServe(runDir);
    if (parts.has('A')) {
      loadAverage.beforeA = load();
      log(`A. ${malformedTotal} malformed requests…`);
      malformed = await malformedSuite(serve.port, { pngBomb, jpeg4mp });
      log(`   ${malformed.requests} requests, ${malformed.responses5xx} in 5xx, ${malformed.errorsNotInOurShape} not in our shape (${malformed.seconds} s)`);
      await new Promise((r) => setTimeout(r, 6000));
    }
    if (parts.has('B')) {
      loadAverage.beforeB = load();
      log(`B. overload for ${overloadSeconds} s…`);
      overloaded = await overload(serve, padPng);
      log(`   healthz p99 ${overloaded.healthzMs.p99} ms, single image p99 ${overloaded.singleImageJsonMs.p99} ms, RSS ${JSON.stringify(overloaded.rssMB)}`);
    }
    serve.child.kill('SIGTERM');
    firstExit = await serve.exited;
  }

  let drain: Awaited<ReturnType<typeof sigtermDrain>> | null = null;
  if (parts.has('C')) {
    loadAverage.beforeC = load();
    log('C. SIGTERM with 20 large requests in flight…');
    drain = await sigtermDrain(runDir);
    log(`   ${JSON.stringify(drain)}`);
  }

  const result = {
    machine: { cores: os.availableParallelism(), node: process.version, note: 'cores shared with other jobs while measured', loadAverage1m5m15m: { ...loadAverage, end: load() } },
    server: 'bin/dev.js serve, 2 × mlp (tiny, freshly built) on ONNX Runtime in the inference workers (one per core), default limits',
    parts: [...parts].sort().join(''),
    malformed,
    overload: overloaded,
    firstServerExitCode: firstExit,
    sigterm: drain,
    import: importResult,
    // (a part not run has no verdict: null)
    targets: {
      malformedNone5xxAllInOurShape: malformed && malformed.responses5xx === 0 && malformed.errorsNotInOurShape === 0,
      healthzP99Under50ms: overloaded && overloaded.healthzMs.p99 < 50,
      singleImageP99Under100ms: overloaded && overloaded.singleImageJsonMs.p99 < 100,
      rssUnder1GB: overloaded && overloaded.rssMB.maxDuringLoad < 1024,
      rssBackWithin20Percent: overloaded && overloaded.rssMB.after30sIdle <= 1.2 * overloaded.rssMB.start,
      sigtermAll20: drain && drain.answered === 20 && drain.lastAnswerAfterSignalSeconds < 30 && drain.exitCode === 0,
      importUnder5sAnd300MB: importResult && (importResult.seconds as number) < 5 && (importResult.maxRssMB as number) < 300 && (importResult as Record<string, unknown>).line === 2002,
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await rm(root, { recursive: true, force: true });
}
