/**
 * A real `digits serve` process (bin/dev.js, from the sources) stopped with SIGTERM while a
 * request is in flight: the request is answered, new connections are refused, the process
 * exits 0. The batching window is long (1 s) so the request is certainly still waiting
 * in the batcher when the signal arrives (the metrics say so before we send it).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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

test('SIGTERM during an in-flight request: it is answered, then the process exits 0', async () => {
  const child = spawn(process.execPath, [path.join(repo, 'bin/dev.js'), 'serve', '--run', runDir, '--port', '0', '--json', '--batch-window-ms', '1000'], {
    cwd: root,
    env: { ...process.env, CI: 'true', DIGITS_BACKEND: 'wasm' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    // Given a server that has said where it listens
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const line = stdout.split('\n').find((l) => l.includes('"listening"'));
        if (line) {
          clearInterval(timer);
          resolve((JSON.parse(line) as { url: string }).url);
        }
        if (child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`serve exited early (${child.exitCode}): ${stderr}`));
        }
      }, 50);
    });
    // When a prediction is in flight (waiting in the batcher)…
    const inFlight = fetch(`${url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ images: [oneAsPixels()] }) });
    for (;;) {
      const metrics = await (await fetch(`${url}/metrics`, { headers: { connection: 'close' } })).text();
      if (/^digits_batch_queue_images 1$/m.test(metrics)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // …and SIGTERM arrives
    child.kill('SIGTERM');
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
    expect(stdout.trim().split('\n').pop()).toBe('{"type":"result","stopped":"SIGTERM","finished":1}');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}, 90_000);
