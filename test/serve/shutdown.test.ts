/**
 * A real `digits serve` process (the built CLI, bin/run.js, as the other CLI tests run it) stopped with SIGTERM while a
 * request is in flight: the request is answered, new connections are refused, the process
 * exits 0. The batching window is long (1 s) so the request is certainly still waiting
 * in the batcher when the signal arrives (the metrics say so before we send it).
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { makeRun, oneAsPixels } from './helpers.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let root: string;
let runDir: string;

beforeAll(async () => {
  await initEngine({ backend: 'wasm', ortKernels: false });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-shutdown-'));
  runDir = await makeRun(root, [{ name: 'm1', preset: 'mlp', seed: 3 }]);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Starts `digits serve --json` on the tiny run; `listening()` resolves with its URL once it says so. */
function startServe(extra: string[]) {
  const child = spawn(process.execPath, [path.join(repo, 'bin/run.js'), 'serve', '--run', runDir, '--port', '0', '--json', ...extra], {
    cwd: root,
    env: { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (out.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out.stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listening = () =>
    new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const line = out.stdout.split('\n').find((l) => l.includes('"listening"'));
        if (line) {
          clearInterval(timer);
          resolve((JSON.parse(line) as { url: string }).url);
        }
        if (child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`serve exited early (${child.exitCode}): ${out.stderr}`));
        }
      }, 50);
    });
  return { child, out, exited, listening };
}

/** Starts on `socket` an upload whose body never finishes arriving, and waits until the server counts it in flight. */
async function stallUpload(socket: net.Socket, url: URL): Promise<void> {
  socket.on('error', () => undefined);
  socket.connect(Number(url.port), url.hostname);
  socket.write('POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n\x89PNG');
  for (;;) {
    const metrics = await (await fetch(`${url.origin}/metrics`, { headers: { connection: 'close' } })).text();
    // (the scrape is the other request in flight)
    if (/^digits_http_requests_in_flight 2$/m.test(metrics)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every line of `text` parsed as JSON (a line that is not JSON fails the test, naming it). */
function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`a line on stderr under --json is not JSON: ${line}`);
      }
    });
}

test('under --json every line on stderr is JSON: the request log and the server\'s own reports (a correction it cannot save)', async () => {
  // Given a server under --json with its request log on, whose corrections store is in a folder of its own
  const store = path.join(root, 'store');
  await mkdir(store);
  const { child, out, exited, listening } = startServe(['--corrections', path.join(store, 'corrections.jsonl')]);
  try {
    const url = await listening();
    // When that folder is removed and a correction comes
    await rm(store, { recursive: true });
    const response = await fetch(`${url}/v1/corrections`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ image: oneAsPixels(), label: 1, predicted: 7 }) });
    expect(response.status).toBe(500);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Then stderr holds JSON lines only: pino's, and the server's report of what it could not do
    const lines = jsonLines(out.stderr);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'incoming request' }));
    expect(lines).toContainEqual(expect.objectContaining({ level: 50, name: 'digits serve', msg: expect.stringMatching(/^cannot append to .*corrections\.jsonl: its folder .*store no longer exists$/) }));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}, 90_000);

test.each(['SIGTERM', 'SIGHUP'] as const)('%s during an in-flight request: it is answered, then the process exits 0', async (signal) => {
  const { child, out, exited, listening } = startServe(['--batch-window-ms', '1000']);
  try {
    // Given a server that has said where it listens
    const url = await listening();
    // When a prediction is in flight (waiting in the batcher)…
    const inFlight = fetch(`${url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ images: [oneAsPixels()] }) });
    for (;;) {
      const metrics = await (await fetch(`${url}/metrics`, { headers: { connection: 'close' } })).text();
      if (/^digits_batch_queue_images 1$/m.test(metrics)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // …and the signal arrives (SIGHUP: the terminal it was started from closed)
    child.kill(signal);
    await new Promise((r) => setTimeout(r, 200));
    // Then new connections are turned away while the in-flight request is finished
    const late = await fetch(`${url}/healthz`, { headers: { connection: 'close' } }).then(
      (r) => r.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(late);
    const response = await inFlight;
    expect(response.status).toBe(200);
    const body = (await response.json()) as { predictions: Array<{ label: number; probabilities: number[] }> };
    expect(body.predictions).toHaveLength(1);
    expect(body.predictions[0]!.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    // and the process exits 0, saying what it finished
    expect(await exited).toBe(0);
    expect(out.stdout.trim().split('\n').pop()).toBe(`{"type":"result","stopped":"${signal}","finished":1,"cut":0}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}, 90_000);

test('SIGTERM with a request that outlasts --grace-period: it is cut, named in the log, and the exit code is 1', async () => {
  // (at --log-level warn, so that a second, pino, line about the cut would show)
  const { child, out, exited, listening } = startServe(['--grace-period', '1', '--log-level', 'warn']);
  const stalled = new net.Socket();
  try {
    const url = new URL(await listening());
    // Given an upload whose body never finishes arriving
    await stallUpload(stalled, url);
    // When SIGTERM arrives, Then after the 1 s grace period the upload is cut and named, and the exit code says so
    child.kill('SIGTERM');
    expect(await exited).toBe(1);
    // (under --json as a JSON log line, as every line on stderr is)
    const lines = jsonLines(out.stderr);
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, name: 'digits serve', msg: expect.stringMatching(/^cut POST \/v1\/predict after [\d.]+ s: the 1 s grace period ended/) }));
    // said once
    expect(lines.filter((line) => /\bcut\b/.test(String(line.msg)))).toHaveLength(1);
    // and the last NDJSON line is an error, as the exit code is (a result line read as success)
    expect(JSON.parse(out.stdout.trim().split('\n').pop()!)).toEqual({ type: 'error', error: '1 request was cut: the 1 s grace period ended before it was answered', hint: 'A longer --grace-period lets slow requests finish.', where: null, stopped: 'SIGTERM', finished: 0, cut: 1 });
  } finally {
    stalled.destroy();
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}, 90_000);

test.each([
  ['SIGTERM', 'SIGINT'],
  ['SIGINT', 'SIGTERM'],
  ['SIGTERM', 'SIGTERM'],
] as const)('%s while draining, then %s: the second signal ends the process at once', async (first, second) => {
  const { child, exited, listening } = startServe(['--grace-period', '600', '--log-level', 'silent']);
  const stalled = new net.Socket();
  try {
    const url = new URL(await listening());
    // Given an upload whose body never finishes arriving, and a first signal (the drain would wait 600 s)
    await stallUpload(stalled, url);
    child.kill(first);
    // (the server is draining once it turns new connections away)
    for (;;) {
      const status = await fetch(`${url.origin}/healthz`, { headers: { connection: 'close' } }).then(
        (r) => r.status,
        () => 'refused',
      );
      if (status !== 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // When the second signal comes, Then the process ends by that signal long before the grace period
    const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    child.kill(second);
    const ended = await Promise.race([exit, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 30_000))]);
    expect(ended).toBe(second);
    await exited;
  } finally {
    stalled.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}, 120_000);

test('--body-grace and --min-body-rate set how slow a request body may be: a stalled one gets a 408 after the grace', async () => {
  // Given a server that allows bodies 1 s at any speed, then 1 KiB/s
  const { child, listening } = startServe(['--body-grace', '1', '--min-body-rate', '1']);
  try {
    const url = new URL(await listening());
    // When a client declares a 64 KiB body, sends a few bytes and stalls
    const socket = net.connect(Number(url.port), url.hostname);
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(`POST /v1/predict HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n\r\n{"images":`);
    await closed;
    // Then it is answered 408 once the grace has passed, naming the flags' rate and grace (the defaults are 16 KiB/s after 10 s)
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(answer).toContain('Send the body at 1 KiB/s or faster (after the first 1 s)');
  } finally {
    child.kill('SIGKILL');
  }
}, 60_000);
