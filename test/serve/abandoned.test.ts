/**
 * Work nobody waits for is not computed: a request whose client hung up while it waited for a
 * batch leaves the queue, and at shutdown the grace period's end drops the queue, so the
 * server stops once the batch already computing ends. A real server on loopback over the tiny
 * run; its member is wrapped so the test decides when the first batch ends and counts calls.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import type { Predictor } from '../../src/inference/predictor.js';
import type { NamedPredictor } from '../../src/serve/batcher.js';
import { loadServedEnsemble } from '../../src/serve/ensemble.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { makeRun, oneAsPixels } from './helpers.js';

let root: string;
let runDir: string;
const started: RunningServer[] = [];

beforeAll(async () => {
  await initEngine({ backend: 'wasm', ortKernels: false });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-abandoned-'));
  runDir = await makeRun(root, [{ name: 'm1', preset: 'mlp', seed: 5 }]);
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.close({ graceMs: 1000 }).catch(() => undefined)));
  await rm(root, { recursive: true, force: true });
});

/** A server (one image a batch) whose member holds its first call until `release()`; `calls` counts the rows of each call. */
async function gatedServer() {
  const ensemble = await loadServedEnsemble(runDir, { infer: 'onnx', workers: 0, threads: 1 });
  const server = await startServer({ ensemble, port: 0, maxBatch: 1, batchWindowMs: 0, log: () => undefined });
  started.push(server);
  const member = server.batcher.members[0] as NamedPredictor;
  const real = member.predictor;
  const calls: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const gated: Predictor = {
    kind: real.kind,
    precision: real.precision,
    imageSize: real.imageSize,
    reason: real.reason,
    dispose: () => real.dispose(),
    predict: async (images, count) => {
      calls.push(count);
      if (calls.length === 1) await gate;
      return real.predict(images, count);
    },
  };
  member.predictor = gated;
  return { server, calls, release };
}

/** A prediction of one image over its own connection; `hangUp()` closes that connection. */
function predict(server: RunningServer) {
  // (tta=false: one image is one row of a call; the run is not evaluated, and is served with the 8 shifts by default)
  const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/v1/predict?tta=false', headers: { 'content-type': 'application/json', connection: 'close' }, agent: false });
  const answer = new Promise<number | string>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
  req.end(JSON.stringify({ images: [oneAsPixels()] }));
  return { answer, hangUp: () => req.destroy() };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}

test('a client that hangs up while its request waits for a batch: the request leaves the queue and is never computed', async () => {
  // Given a batch computing and two requests waiting behind it
  const { server, calls, release } = await gatedServer();
  const first = predict(server);
  await until(() => calls.length === 1);
  const abandoned = predict(server);
  await until(() => server.batcher.queued === 1);
  const kept = predict(server);
  await until(() => server.batcher.queued === 2);
  // When the client of one of them hangs up
  abandoned.hangUp();
  // Then its image leaves the queue while the first batch still computes
  await until(() => server.batcher.queued === 1);
  release();
  // and only the two requests still wanted are computed and answered
  expect(await first.answer).toBe(200);
  expect(await kept.answer).toBe(200);
  expect(calls).toEqual([1, 1]);
}, 60_000);

test('at the end of the grace period the queued work is dropped: close() waits only for the batch computing', async () => {
  // Given a batch computing and three requests waiting behind it
  const { server, calls, release } = await gatedServer();
  const requests = [predict(server)];
  await until(() => calls.length === 1);
  for (let i = 1; i <= 3; i++) {
    requests.push(predict(server));
    await until(() => server.batcher.queued === i);
  }
  // When the server closes with a short grace period, and the computing batch ends only after the cut
  const closing = server.close({ graceMs: 300 });
  await until(() => server.inFlight() === 0);
  release();
  const report = await closing;
  // Then the four requests were cut and named, and nothing queued was computed after the cut
  expect(report.cut).toHaveLength(4);
  expect(calls).toEqual([1]);
  for (const r of requests) expect(await r.answer).not.toBe(200);
}, 60_000);
