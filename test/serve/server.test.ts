/**
 * The HTTP server on loopback (port 0) over a real run folder of freshly built members:
 * answers equal to the predictors' own, dynamic batching of concurrent requests, 1,000
 * malformed requests of assorted kinds (all 4xx, the server unharmed), Prometheus text,
 * the model card, the pad page, corrections, and the tfjs fallback not leaking tensors.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '../../src/engine/tf.js';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { createPredictor, type Predictor } from '../../src/inference/predictor.js';
import { predictEnsemble } from '../../src/ensemble/predict-ensemble.js';
import { TTA_8 } from '../../src/ensemble/tta.js';
import { loadServedEnsemble } from '../../src/serve/ensemble.js';
import { PIXELS, imageFileToDigit, toBytes } from '../../src/serve/image-input.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { makeRun, oneAsPixels, pngOf, sevenOnPaper } from './helpers.js';

type BodyInit = NonNullable<RequestInit['body']>;

let root: string;
let runDir: string;
let server: RunningServer;
const direct: Predictor[] = [];
const BODY_LIMIT = 1024 * 1024;
const MAX_BATCH = 64;

beforeAll(async () => {
  await initEngine({ backend: 'wasm', ortKernels: false });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-serve-'));
  runDir = await makeRun(root, [
    { name: 'dense', preset: 'mlp', seed: 1 },
    { name: 'conv', preset: 'seed002', seed: 2 },
  ]);
  await writeFile(path.join(runDir, 'evaluation.json'), JSON.stringify(evaluationFixture()));
  const ensemble = await loadServedEnsemble(runDir, { infer: 'onnx' });
  for (const m of ensemble.members) direct.push(await createPredictor(m.checkpoint, { infer: 'onnx' }));
  // (corrections unlimited here: the malformed suite posts hundreds; the rate limit has its own test in hostile.test.ts)
  server = await startServer({ ensemble, port: 0, maxBatch: MAX_BATCH, batchWindowMs: 15, bodyLimit: BODY_LIMIT, correctionsPerMinute: 1_000_000 });
});

afterAll(async () => {
  await server?.close();
  for (const p of direct) p.dispose();
  await rm(root, { recursive: true, force: true });
});

function metricsOf(rows: number, accuracy: number) {
  return { rows, accuracy, logLoss: 0.3, perClass: [], confusion: [], mostConfused: [] };
}

function evaluationFixture() {
  return {
    format: 'digits-evaluation',
    version: 1,
    run: 'run',
    createdAt: new Date().toISOString(),
    dataset: { dir: '/nonexistent', fingerprint: 'sha256:none' },
    heldOutRows: [1, 2, 3],
    members: [
      { name: 'dense', preset: 'mlp', checkpoint: 'dense/best', rows: 100, metrics: metricsOf(100, 0.91), tta: metricsOf(100, 0.92), history: [] },
      { name: 'conv', preset: 'seed002', checkpoint: 'conv/best', rows: 100, metrics: metricsOf(100, 0.97), history: [] },
    ],
    ensemble: { soft: metricsOf(3, 0.98), hard: metricsOf(3, 0.97), softTta: metricsOf(3, 0.99), ttaDecision: { used: false, reason: 'TTA did not lower the log-loss' } },
  };
}

interface Prediction {
  label: number;
  probabilities: number[];
  members: Record<string, number[]>;
  input?: number[];
}

interface PredictBody {
  predictions: Prediction[];
  members: string[];
  tta: boolean;
  timing: { batchImages: number; batchRequests: number };
}

async function post(route: string, body: BodyInit, type?: string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(`${server.url}${route}`, { method: 'POST', body, headers: type ? { 'content-type': type } : {} });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: left as text for the assertion to show */
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

async function predictJson(payload: unknown, query = ''): Promise<PredictBody> {
  const { status, body } = await post(`/v1/predict${query}`, JSON.stringify(payload), 'application/json');
  expect(status, JSON.stringify(body)).toBe(200);
  return body as PredictBody;
}

function randomPixels(seed: number): number[] {
  let s = seed;
  return Array.from({ length: PIXELS }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31));
}

/** Expected ensemble and per-member probabilities from the predictors directly. */
async function expected(images: Float32Array, count: number, options: { tta?: boolean; members?: number[] } = {}) {
  const chosen = (options.members ?? direct.map((_, i) => i)).map((i) => direct[i]!);
  const tta = options.tta ? TTA_8 : undefined;
  const ensemble = await predictEnsemble(chosen, images, count, { tta });
  const members = await Promise.all(chosen.map((p) => predictEnsemble([p], images, count, { tta })));
  return { ensemble, members };
}

function expectClose(actual: number[], wanted: Float32Array, tolerance = 1e-6): void {
  expect(actual.length).toBe(wanted.length);
  actual.forEach((v, i) => expect(Math.abs(v - wanted[i]!)).toBeLessThanOrEqual(tolerance));
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < values.length; k++) if (values[k]! > values[best]!) best = k;
  return best;
}

describe('predictions', () => {
  test('JSON images (0–255 and [0,1]) get exactly what the predictors give', async () => {
    // Given a 0–255 image, a [0,1] image and the same picture in both scales
    const one = oneAsPixels();
    const images = [one, randomPixels(7), one.map((v) => v / 255)];
    // When they are posted as JSON
    const body = await predictJson({ images });
    // Then every image's ensemble and member probabilities match the predictors' own
    const floats = new Float32Array(3 * PIXELS);
    images.forEach((img, i) => floats.set(img.map((v, _k, all) => (Math.max(...all) > 1 ? v / 255 : v)), i * PIXELS));
    const want = await expected(floats, 3);
    expect(body.members).toEqual(['dense', 'conv']);
    body.predictions.forEach((p, i) => {
      expectClose(p.probabilities, want.ensemble.subarray(i * 10, i * 10 + 10));
      expectClose(p.members.dense!, want.members[0]!.subarray(i * 10, i * 10 + 10));
      expectClose(p.members.conv!, want.members[1]!.subarray(i * 10, i * 10 + 10));
      expect(p.label).toBe(argmax(p.probabilities));
    });
    // the two scales of the same picture agree
    expectClose(body.predictions[2]!.probabilities, Float32Array.from(body.predictions[0]!.probabilities), 1e-6);
  });

  test('rows as the competition\'s CSV holds them ("layout": "competition") are turned as its import turned them; /v1/model says how; tta null is the default, 0 and 1 are false and true', async () => {
    // Given a run whose competition stored its images transposed (the practice layout)
    const turned = await makeRun(root, [{ name: 'm', preset: 'mlp', seed: 3 }], 'transposed-run', 'transpose');
    const ensemble = await loadServedEnsemble(turned, { infer: 'onnx', workers: 0, threads: 1 });
    const other = await startServer({ ensemble, port: 0, log: () => undefined });
    try {
      const post = async (body: unknown) => {
        const res = await fetch(`${other.url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        return { status: res.status, body: (await res.json()) as PredictBody & { error?: string } };
      };
      const upright = randomPixels(11);
      const stored = upright.map((_, k) => upright[(k % 28) * 28 + Math.floor(k / 28)]!);
      // When the transposed row is posted as the competition's, Then it is predicted as the upright image is
      const asUpright = await post({ images: [upright], tta: false });
      const asStored = await post({ images: [stored], tta: false, layout: 'competition' });
      expect(asStored.status).toBe(200);
      expectClose(asStored.body.predictions[0]!.probabilities, Float32Array.from(asUpright.body.predictions[0]!.probabilities), 1e-6);
      // and an upright image sent as upright (the default) is not turned
      expectClose((await post({ images: [upright], tta: false, layout: 'upright' })).body.predictions[0]!.probabilities, Float32Array.from(asUpright.body.predictions[0]!.probabilities), 1e-6);
      // /v1/model says what JSON images are and how this run's competition stores them
      const card = (await (await fetch(`${other.url}/v1/model`)).json()) as { input: unknown };
      expect(card.input).toEqual({ layout: 'upright', competitionOrientation: 'transpose' });
      // A layout of another name is a 400 naming the two
      const bad = await post({ images: [upright], layout: 'transposed' });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toBe('layout is the string "transposed"; it must be "upright" or "competition"');
      // "tta": null is the run's default (it meant false); 0 and 1 are false and true (they were refused)
      expect((await post({ images: [upright], tta: null })).body.tta).toBe(ensemble.tta.default);
      expect((await post({ images: [upright], tta: 1 })).body.tta).toBe(true);
      expect((await post({ images: [upright], tta: 0 })).body.tta).toBe(false);
      // A blank image in the batch is a 400 naming it, as blank uploads are (it got a label)
      const blank = await post({ images: [upright, new Array(784).fill(255)] });
      expect([blank.status, blank.body.error]).toEqual([400, 'images[1] is blank: no strokes stand out from the background']);
    } finally {
      await other.close();
    }
  });

  test('TTA and a member subset, in the query or in the JSON, match predictEnsemble', async () => {
    const images = [randomPixels(3)];
    const floats = Float32Array.from(images[0]!);
    const tta = await expected(floats, 1, { tta: true });
    const viaQuery = await predictJson({ images }, '?tta=true');
    const viaJson = await predictJson({ images, tta: true });
    expect(viaQuery.tta).toBe(true);
    expectClose(viaQuery.predictions[0]!.probabilities, tta.ensemble);
    expectClose(viaJson.predictions[0]!.probabilities, tta.ensemble);
    const convOnly = await expected(floats, 1, { members: [1] });
    const subset = await predictJson({ images, members: ['conv'] });
    expect(subset.members).toEqual(['conv']);
    expect(Object.keys(subset.predictions[0]!.members)).toEqual(['conv']);
    expectClose(subset.predictions[0]!.probabilities, convOnly.ensemble);
    const subsetQuery = await predictJson({ images }, '?members=conv');
    expectClose(subsetQuery.predictions[0]!.probabilities, convOnly.ensemble);
    // an empty members= names no member, as "members": [] does; the query and the body both naming members is refused
    const empty = await post('/v1/predict?members=', JSON.stringify({ images }), 'application/json');
    expect([empty.status, (empty.body as { error: string }).error]).toEqual([400, 'members names no member']);
    const twice = await post('/v1/predict?members=conv', JSON.stringify({ images, members: ['conv'] }), 'application/json');
    expect([twice.status, (twice.body as { error: string }).error]).toEqual([400, 'members is given both in the query and in the body']);
  });

  test('form fields repeat as query keys do: tta twice is a 400, members twice a union; a field cut at 4096 bytes is a 413 naming it', async () => {
    // Given a drawing, and forms holding it with repeated or over-long fields
    const png = pngOf(60, 60, sevenOnPaper(60, 60));
    const formOf = (fields: Array<[string, string]>) => {
      const form = new FormData();
      form.append('file', new Blob([png], { type: 'image/png' }), 'seven.png');
      for (const [name, value] of fields) form.append(name, value);
      return form;
    };
    // When tta is given twice, in the form or in the query, Then it is a 400 saying so (the last one was taken)
    const ttaForm = await post('/v1/predict', formOf([['tta', 'true'], ['tta', 'false']]));
    expect([ttaForm.status, (ttaForm.body as { error: string }).error]).toEqual([400, 'tta is given 2 times in the form']);
    const ttaQuery = await post('/v1/predict?tta=true&tta=false', formOf([]));
    expect([ttaQuery.status, (ttaQuery.body as { error: string }).error]).toEqual([400, 'tta is given 2 times in the query']);
    // When members is given twice, in the form or in the query, Then both members answer (only the last did)
    const membersForm = await post('/v1/predict', formOf([['members', 'dense'], ['members', 'conv']]));
    expect(membersForm.status, JSON.stringify(membersForm.body)).toBe(200);
    expect([...(membersForm.body as PredictBody).members].sort()).toEqual(['conv', 'dense']);
    const membersQuery = await post('/v1/predict?members=dense&members=conv', formOf([]));
    expect([...(membersQuery.body as PredictBody).members].sort()).toEqual(['conv', 'dense']);
    // When a field is longer than busboy's 4096-byte field size, Then it is a 413 naming it (it was cut and used)
    const long = await post('/v1/predict', formOf([['members', `dense${','.repeat(5000)}`]]));
    expect(long.status).toBe(413);
    expect(long.body).toEqual({ error: 'form field members is longer than 4096 bytes', hint: expect.any(String) });
  });

  test('a PNG (raw body), a JPEG and two multipart files are centred like MNIST and predicted like that digit', async () => {
    // Given a large dark-on-light drawing as PNG and JPEG
    const draw = sevenOnPaper(240, 320);
    const png = pngOf(240, 320, draw);
    const rgba = Buffer.alloc(240 * 320 * 4);
    for (let i = 0; i < 240 * 320; i++) rgba.fill(draw(i % 240, Math.floor(i / 240)), 4 * i, 4 * i + 3), (rgba[4 * i + 3] = 255);
    const jpg = jpeg.encode({ data: rgba, width: 240, height: 320 }, 92).data;
    const pngDigit = imageFileToDigit(png);
    const jpgDigit = imageFileToDigit(jpg);
    const want = await expected(pngDigit, 1);
    // When the PNG is the raw body
    const raw = await post('/v1/predict', png, 'image/png');
    expect(raw.status, JSON.stringify(raw.body)).toBe(200);
    const rawPrediction = (raw.body as PredictBody).predictions[0]!;
    // Then the server saw the same 28×28 digit and predicted what the predictors predict for it
    expect(rawPrediction.input).toEqual(toBytes(pngDigit));
    expectClose(rawPrediction.probabilities, want.ensemble);
    // The JPEG as a raw body, and both as multipart files (with tta as a form field)
    const rawJpeg = await post('/v1/predict', jpg, 'image/jpeg');
    expect(rawJpeg.status).toBe(200);
    expectClose((rawJpeg.body as PredictBody).predictions[0]!.probabilities, (await expected(jpgDigit, 1)).ensemble);
    const form = new FormData();
    form.append('first', new Blob([png], { type: 'image/png' }), 'seven.png');
    form.append('second', new Blob([jpg], { type: 'image/jpeg' }), 'seven.jpg');
    form.append('tta', 'true');
    const multi = await post('/v1/predict', form);
    expect(multi.status, JSON.stringify(multi.body)).toBe(200);
    const both = new Float32Array(2 * PIXELS);
    both.set(pngDigit, 0);
    both.set(jpgDigit, PIXELS);
    const wantBoth = await expected(both, 2, { tta: true });
    (multi.body as PredictBody).predictions.forEach((p, i) => expectClose(p.probabilities, wantBoth.ensemble.subarray(i * 10, i * 10 + 10)));
  });

  test('a damaged PNG or JPEG is a 400 {error, hint} that names what is wrong with it, raw or as a file', async () => {
    // Given a PNG whose IHDR CRC is wrong, and a JPEG with a zeroed byte in its Huffman tables
    // (on which jpeg-js throws a TypeError, "Cannot set properties of undefined")
    const png = Buffer.from(pngOf(40, 40, sevenOnPaper(40, 40)));
    png[29] ^= 0xff;
    const rgba = Buffer.alloc(16 * 16 * 4);
    for (let i = 0; i < 256; i++) rgba.fill(i % 16 > 5 && i % 16 < 10 ? 0 : 255, 4 * i, 4 * i + 3), (rgba[4 * i + 3] = 255);
    const jpg = Buffer.from(jpeg.encode({ data: rgba, width: 16, height: 16 }, 90).data);
    jpg[164] = 0;
    // When they are posted as the body and as a multipart file
    const rawPng = await post('/v1/predict', png, 'image/png');
    const form = new FormData();
    form.append('file', new Blob([jpg], { type: 'image/jpeg' }), 'bar.jpg');
    const multiJpeg = await post('/v1/predict', form);
    // Then each is a 400 whose error says what is wrong (not "unrecognised content at end of stream", not a JS error)
    expect(rawPng.status).toBe(400);
    expect(rawPng.body).toEqual({ error: 'the uploaded image could not be decoded: the CRC of its IHDR chunk at byte 8 does not match its contents (the file is damaged)', hint: expect.any(String) });
    expect(multiJpeg.status).toBe(400);
    expect(multiJpeg.body).toEqual({ error: 'file "bar.jpg" could not be decoded: not a valid JPEG: its data is inconsistent (the decoder could not follow it)', hint: expect.any(String) });
  });

  test('20 requests fired at once are merged into batches larger than 1 (batch-size metric and timings)', async () => {
    const before = await batchHistogram();
    const bodies = await Promise.all(Array.from({ length: 20 }, (_, i) => predictJson({ images: [randomPixels(100 + i)] })));
    const after = await batchHistogram();
    const batches = after.count - before.count;
    const multiImageBatches = after.count - after.le1 - (before.count - before.le1);
    expect(batches).toBeLessThan(20);
    expect(multiImageBatches).toBeGreaterThan(0);
    expect(Math.max(...bodies.map((b) => b.timing.batchRequests))).toBeGreaterThan(1);
    // and every answer is still its own image's
    for (const [i, body] of bodies.entries()) {
      const want = await expected(Float32Array.from(randomPixels(100 + i)), 1);
      expectClose(body.predictions[0]!.probabilities, want.ensemble);
    }
  });
});

async function metricsText(): Promise<string> {
  const response = await fetch(`${server.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

async function batchHistogram(): Promise<{ count: number; le1: number }> {
  const text = await metricsText();
  const count = Number(/^digits_batch_size_images_count (\d+)$/m.exec(text)?.[1] ?? 0);
  const le1 = Number(/^digits_batch_size_images_bucket\{le="1"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  return { count, le1 };
}

/** Checks Prometheus text exposition 0.0.4 line by line; returns samples by name+labels. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  expect(text.endsWith('\n')).toBe(true);
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const label = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
  const sample = new RegExp(`^(${name})(\\{(?:${label})(?:,${label})*\\})? (-?[0-9.e+-]+|\\+Inf|-Inf|NaN)$`);
  for (const line of text.trimEnd().split('\n')) {
    // (the format ignores empty lines; prom-client puts one between families)
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      expect(line).toMatch(new RegExp(`^# HELP ${name} .+`));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, , metric, type] = line.split(' ');
      expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(type);
      expect(types.has(metric!), `TYPE for ${metric} given twice`).toBe(false);
      types.set(metric!, type!);
      continue;
    }
    const match = sample.exec(line);
    expect(match, `not a Prometheus sample line: ${line}`).not.toBeNull();
    const metric = match![1]!;
    const family = types.has(metric) ? metric : metric.replace(/_(bucket|sum|count)$/, '');
    expect(types.has(family), `${metric} has no TYPE line before it`).toBe(true);
    samples.set(`${metric}${match![2] ?? ''}`, Number(match![3] === '+Inf' ? Infinity : match![3]));
  }
  // Histograms: buckets cumulative, +Inf equal to _count.
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, number[]>();
    for (const [key, value] of samples) {
      if (!key.startsWith(`${family}_bucket{`)) continue;
      // (le may stand first, last or between other labels)
      const labels = key.replace(/le="[^"]*"/, '').replace('{,', '{').replace(',}', '}').replace(',,', ',').replace('{}', '');
      series.set(labels, [...(series.get(labels) ?? []), value]);
    }
    for (const [labels, counts] of series) {
      for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!);
      const rest = labels.slice(`${family}_bucket`.length);
      expect(counts.at(-1)).toBe(samples.get(`${family}_count${rest === '{}' ? '' : rest}`));
    }
  }
  return samples;
}

describe('malformed requests', () => {
  test('1,000 malformed requests of assorted kinds all get 4xx JSON {error, hint}; then a valid request is still right', async () => {
    const good = oneAsPixels();
    const png = pngOf(32, 32, sevenOnPaper(32, 32));
    const huge = JSON.stringify({ images: [good], padding: 'x'.repeat(BODY_LIMIT + 10) });
    const nanImage = [...good.slice(0, 783), 'NaN'];
    const form = (parts: Array<[string, Blob | string, string?]>) => {
      const f = new FormData();
      for (const [name, value, filename] of parts) (typeof value === 'string' ? f.append(name, value) : f.append(name, value, filename));
      return f;
    };
    type Bad = { name: string; route?: string; method?: string; body?: () => BodyInit; type?: string; status: number };
    const kinds: Bad[] = [
      { name: 'short image', body: () => JSON.stringify({ images: [[1, 2, 3]] }), type: 'application/json', status: 400 },
      { name: 'long image', body: () => JSON.stringify({ images: [[...good, 0]] }), type: 'application/json', status: 400 },
      { name: 'NaN pixel', body: () => JSON.stringify({ images: [nanImage] }), type: 'application/json', status: 400 },
      { name: 'string pixels', body: () => JSON.stringify({ images: [good.map(String)] }), type: 'application/json', status: 400 },
      { name: 'null pixel', body: () => JSON.stringify({ images: [[null, ...good.slice(1)]] }), type: 'application/json', status: 400 },
      { name: 'out of range', body: () => JSON.stringify({ images: [[300, ...good.slice(1)]] }), type: 'application/json', status: 400 },
      { name: 'flat array', body: () => JSON.stringify({ images: good }), type: 'application/json', status: 400 },
      // a blank image, as uploads and corrections are (it got a label until session 42), in a batch with a good one
      { name: 'blank image', body: () => JSON.stringify({ images: [good, new Array(784).fill(0)] }), type: 'application/json', status: 400 },
      { name: 'empty images', body: () => JSON.stringify({ images: [] }), type: 'application/json', status: 400 },
      { name: 'no images key', body: () => JSON.stringify({ image: good }), type: 'application/json', status: 400 },
      { name: 'array body', body: () => JSON.stringify([good]), type: 'application/json', status: 400 },
      { name: 'too many images', body: () => JSON.stringify({ images: new Array(MAX_BATCH + 1).fill(good) }), type: 'application/json', status: 413 },
      { name: 'body over the limit', body: () => huge, type: 'application/json', status: 413 },
      { name: 'invalid JSON', body: () => '{"images": [[1,2', type: 'application/json', status: 400 },
      { name: 'deeply nested JSON', body: () => `{"images":${'['.repeat(50_000)}${']'.repeat(50_000)}}`, type: 'application/json', status: 400 },
      { name: 'infinite pixel', body: () => `{"images":[[1e999${',0'.repeat(783)}]]}`, type: 'application/json', status: 400 },
      { name: 'proto poisoning', body: () => '{"__proto__": {"images": 1}}', type: 'application/json', status: 400 },
      { name: 'empty JSON body', body: () => '', type: 'application/json', status: 400 },
      { name: 'bad tta', body: () => JSON.stringify({ images: [good], tta: 'maybe' }), type: 'application/json', status: 400 },
      { name: 'unknown member', body: () => JSON.stringify({ images: [good], members: ['nobody'] }), type: 'application/json', status: 400 },
      { name: 'unknown option', body: () => JSON.stringify({ images: [good], voting: 'hard' }), type: 'application/json', status: 400 },
      { name: 'text/plain', body: () => 'hello', type: 'text/plain', status: 415 },
      { name: 'octet-stream', body: () => new Uint8Array(png), type: 'application/octet-stream', status: 415 },
      { name: 'form-urlencoded', body: () => 'images=1', type: 'application/x-www-form-urlencoded', status: 415 },
      { name: 'corrupt PNG', body: () => new Uint8Array(png.subarray(0, 50)), type: 'image/png', status: 400 },
      { name: 'random bytes as PNG', body: () => new Uint8Array(256).map((_, i) => (i * 31) & 255), type: 'image/png', status: 415 },
      { name: 'empty PNG body', body: () => new Uint8Array(0), type: 'image/png', status: 400 },
      { name: 'corrupt JPEG', body: () => new Uint8Array([0xff, 0xd8, 0xff, 0xdb, 1, 2, 3, 4, 5, 6]), type: 'image/jpeg', status: 400 },
      { name: 'blank PNG', body: () => new Uint8Array(pngOf(20, 20, () => 200)), type: 'image/png', status: 400 },
      { name: 'multipart without a file', body: () => form([['tta', 'true']]), status: 400 },
      { name: 'multipart corrupt file', body: () => form([['file', new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0])]), 'x.png']]), status: 400 },
      { name: 'multipart unknown field', body: () => form([['file', new Blob([new Uint8Array(png)]), 'x.png'], ['color', 'red']]), status: 400 },
      { name: 'broken multipart', body: () => '--zz\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\n\r\nabc', type: 'multipart/form-data; boundary=zz', status: 400 },
      { name: 'unknown query option', route: '/v1/predict?color=red', body: () => JSON.stringify({ images: [good] }), type: 'application/json', status: 400 },
      { name: 'no content type', body: () => new Uint8Array([1, 2, 3]), status: 415 },
      { name: 'unknown route', route: '/v2/predict', body: () => '{}', type: 'application/json', status: 404 },
      { name: 'GET predict', route: '/v1/predict', method: 'GET', status: 405 },
      { name: 'correction bad label', route: '/v1/corrections', body: () => JSON.stringify({ image: good, label: 12, predicted: 1 }), type: 'application/json', status: 400 },
      { name: 'correction fractional label', route: '/v1/corrections', body: () => JSON.stringify({ image: good, label: 1.5 }), type: 'application/json', status: 400 },
      { name: 'correction short image', route: '/v1/corrections', body: () => JSON.stringify({ image: [1, 2], label: 1 }), type: 'application/json', status: 400 },
      { name: 'correction as PNG', route: '/v1/corrections', body: () => new Uint8Array(png), type: 'image/png', status: 415 },
    ];
    const total = 1000;
    const seen = new Map<string, number>();
    let next = 0;
    // 8 at a time, all on loopback.
    const worker = async () => {
      while (next < total) {
        const bad = kinds[next++ % kinds.length]!;
        const response = await fetch(`${server.url}${bad.route ?? '/v1/predict'}`, {
          method: bad.method ?? 'POST',
          body: bad.body?.(),
          headers: bad.type ? { 'content-type': bad.type } : {},
        });
        const text = await response.text();
        expect(response.status, `${bad.name}: ${text}`).toBe(bad.status);
        const body = JSON.parse(text) as { error?: unknown; hint?: unknown };
        expect(typeof body.error, bad.name).toBe('string');
        expect(typeof body.hint, bad.name).toBe('string');
        seen.set(bad.name, (seen.get(bad.name) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBe(total);
    // Then the server still answers correctly, and nothing was appended to the store by the bad corrections
    const body = await predictJson({ images: [good] });
    expectClose(body.predictions[0]!.probabilities, (await expected(Float32Array.from(good, (v) => v / 255), 1)).ensemble);
    await expect(readFile(path.join(runDir, 'corrections.jsonl'), 'utf8').catch(() => '')).resolves.not.toMatch(/"label":12/);
    const samples = parsePrometheus(await metricsText());
    const errors = [...samples].filter(([key]) => key.startsWith('digits_http_errors_total')).reduce((sum, [, v]) => sum + v, 0);
    expect(errors).toBeGreaterThanOrEqual(total);
    // (a known path asked with the wrong method is counted under that path, as the client meant
    // it; a path no route has under 'unmatched', so scanners cannot grow the label set)
    const count = (name: string) => seen.get(name) ?? 0;
    expect(samples.get('digits_http_errors_total{route="/v1/predict",kind="method_not_allowed"}')).toBe(count('GET predict'));
    expect(samples.get('digits_http_requests_total{route="/v1/predict",method="GET",status="405"}')).toBe(count('GET predict'));
    expect(samples.get('digits_http_errors_total{route="unmatched",kind="not_found"}')).toBe(count('unknown route'));
    expect(samples.get('digits_http_errors_total{route="unmatched",kind="method_not_allowed"}')).toBeUndefined();
  }, 120_000);
});

describe('the other routes', () => {
  test('/metrics is valid Prometheus text with requests, latency, batch sizes, errors and stage times', async () => {
    await predictJson({ images: [oneAsPixels()] });
    const samples = parsePrometheus(await metricsText());
    expect(samples.get('digits_http_requests_total{route="/v1/predict",method="POST",status="200"}')).toBeGreaterThan(0);
    expect(samples.get('digits_http_request_duration_seconds_count{route="/v1/predict"}')).toBeGreaterThan(0);
    expect(samples.get('digits_batch_size_images_count')).toBeGreaterThan(0);
    for (const stage of ['parse', 'wait', 'infer']) expect(samples.get(`digits_predict_stage_seconds_count{stage="${stage}"}`)).toBeGreaterThan(0);
    expect(samples.get('digits_tfjs_tensors')).toBeDefined();
    // the event-loop delay and the inference workers' counters
    expect(samples.get('digits_event_loop_delay_seconds_count')).toBeGreaterThan(0);
    expect(samples.get('digits_inference_workers_ready')).toBe(os.availableParallelism());
    const calls = [...samples].filter(([key]) => key.startsWith('digits_inference_worker_calls_total{worker=')).reduce((sum, [, v]) => sum + v, 0);
    expect(calls).toBeGreaterThan(0);
  });

  test('/healthz, /v1/model with validation scores from evaluation.json, and the pad page without external URLs', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toMatchObject({ status: 'ok', members: 2 });
    const model = (await (await fetch(`${server.url}/v1/model`)).json()) as Record<string, unknown> & { members: Array<Record<string, unknown>> };
    expect(model.runtime).toBe('onnx');
    // the members run in the inference worker pool (the default), one ONNX Runtime thread per session
    expect(model.inference).toMatchObject({ mode: 'workers', workers: os.availableParallelism(), threadsPerSession: 1 });
    expect(model.members.map((m) => [m.name, m.preset, m.runtime])).toEqual([
      ['dense', 'mlp', 'onnx'],
      ['conv', 'seed002', 'onnx'],
    ]);
    // (no absolute paths in replies: the checkpoint is named within the run folder)
    expect(model.members[0]!.checkpoint).toBe(path.join('dense', 'best'));
    expect(JSON.stringify(model)).not.toContain(root);
    expect(model.members[0]!.validation).toEqual({ rows: 100, accuracy: 0.91, logLoss: 0.3, ttaAccuracy: 0.92 });
    expect(model.ensemble).toMatchObject({ voting: 'soft', validation: { rows: 3, accuracy: 0.98, ttaAccuracy: 0.99 } });
    expect(model.batching).toMatchObject({ maxBatch: MAX_BATCH, windowMs: 15 });
    const page = await fetch(`${server.url}/`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const html = await page.text();
    expect(html).toMatch(/<canvas id="pad"/);
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    expect(html).not.toMatch(/https?:\/\//);
  });

  test('POST /v1/corrections appends one durable line per correction and answers 201', async () => {
    const file = path.join(runDir, 'corrections.jsonl');
    const image = oneAsPixels();
    const before = await readFile(file, 'utf8').catch(() => '');
    const saved = await post('/v1/corrections', JSON.stringify({ image, label: 1, predicted: 7 }), 'application/json');
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    expect(saved.body).toMatchObject({ saved: true, label: 1, predicted: 7, file: 'corrections.jsonl' });
    const floats = await post('/v1/corrections', JSON.stringify({ image: image.map((v) => v / 255), label: 1 }), 'application/json');
    expect(floats.status).toBe(201);
    const lines = (await readFile(file, 'utf8')).slice(before.length).trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((l) => JSON.parse(l) as { label: number; predicted: number | null; image: number[] });
    expect(first).toMatchObject({ v: 1, label: 1, predicted: 7 });
    expect(first!.image).toEqual(image);
    expect(second).toMatchObject({ label: 1, predicted: null });
    expect(second!.image).toEqual(image);
  });

  test('POST /v1/corrections refuses a query key, as /v1/predict does, and saves nothing', async () => {
    // Given the store as it is
    const file = path.join(runDir, 'corrections.jsonl');
    const before = await readFile(file, 'utf8').catch(() => '');
    // When a correction comes with a query key it does not take
    const refused = await post('/v1/corrections?x=1', JSON.stringify({ image: oneAsPixels(), label: 1, predicted: 7 }), 'application/json');
    // Then it is a 400 naming the key, and the store is unchanged
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ error: 'unknown query option "x"', hint: expect.stringMatching(/takes no query options/) });
    expect(await readFile(file, 'utf8').catch(() => '')).toBe(before);
  });
});

describe('the submission\'s variant by default', () => {
  test('a run whose submission uses TTA is served with TTA unless a request says otherwise; /v1/model and the pad say so, and name the figures\' precision', async () => {
    // Given the run evaluated in int8, its submission with TTA
    const file = path.join(runDir, 'evaluation.json');
    const evaluation = evaluationFixture();
    for (const m of evaluation.members) Object.assign(m, { runtime: { engine: 'onnx', precision: 'int8' } });
    evaluation.ensemble.ttaDecision = { used: true, reason: 'TTA lowers the soft vote\'s log-loss' };
    await writeFile(file, JSON.stringify(evaluation));
    const withTta = await startServer({ ensemble: await loadServedEnsemble(runDir, { infer: 'onnx', workers: 0 }), port: 0, batchWindowMs: 2 });
    try {
      const ask = async (payload: unknown, query = '') => {
        const response = await fetch(`${withTta.url}/v1/predict${query}`, { method: 'POST', body: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
        expect(response.status).toBe(200);
        return (await response.json()) as PredictBody;
      };
      const images = [randomPixels(5)];
      const floats = Float32Array.from(images[0]!);
      // When a request does not say, Then it gets the 8 shifts, as the submission did
      const unsaid = await ask({ images });
      expect(unsaid.tta).toBe(true);
      expectClose(unsaid.predictions[0]!.probabilities, (await expected(floats, 1, { tta: true })).ensemble);
      // and one that asks for none gets none
      const plain = await ask({ images }, '?tta=false');
      expect(plain.tta).toBe(false);
      expectClose(plain.predictions[0]!.probabilities, (await expected(floats, 1)).ensemble);
      // /v1/model says what a request gets and why, and in which format its figures were computed
      const model = (await (await fetch(`${withTta.url}/v1/model`)).json()) as { tta: Record<string, unknown>; ensemble: { validation: Record<string, unknown> }; members: Array<{ validation: Record<string, unknown> }> };
      expect(model.tta).toMatchObject({ variants: 8, default: true, reason: "as the submission: with TTA (TTA lowers the soft vote's log-loss)" });
      expect(model.ensemble.validation.precision).toBe('int8');
      expect(model.members[1]!.validation.precision).toBe('int8');
      // and the pad opens with its TTA box ticked (it always sends tta=…, so the box is what is used)
      const page = await (await fetch(`${withTta.url}/`)).text();
      expect(page).toContain('<input id="tta" type="checkbox" checked>');
      expect(page).toContain("'/v1/predict?tta=' + (tta ? 'true' : 'false')");
    } finally {
      await withTta.close();
      await writeFile(file, JSON.stringify(evaluationFixture()));
    }
    // A run not evaluated is submitted with the 8 shifts, so it is served with them too
    await rm(file);
    try {
      const unevaluated = await loadServedEnsemble(runDir, { infer: 'onnx', workers: 0 });
      expect(unevaluated.tta).toEqual({ default: true, reason: 'as the submission: with TTA (the run has not been evaluated: the 8 shifts by default)' });
      await unevaluated.dispose();
    } finally {
      await writeFile(file, JSON.stringify(evaluationFixture()));
    }
    // On the run as first evaluated (TTA not chosen), the pad's box is not ticked
    expect(await (await fetch(`${server.url}/`)).text()).toContain('<input id="tta" type="checkbox">');
    expect(((await (await fetch(`${server.url}/v1/model`)).json()) as { tta: { default: boolean } }).tta.default).toBe(false);
  });
});

describe('a member that failed to train', () => {
  test('named in members, it is a 400 saying it failed and why, not an unknown name', async () => {
    // Given a run whose member "broken" failed to train (run.json records its error)
    const failedRun = await makeRun(root, [{ name: 'dense', preset: 'mlp', seed: 1 }], 'failed-run');
    const manifestFile = path.join(failedRun, 'run.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as { members: unknown[] };
    manifest.members.push({ name: 'broken', preset: 'mlp', ok: false, error: 'ENOSPC: no space left on device\n    at write', split: { name: 'holdout', fold: 0 } });
    await writeFile(manifestFile, JSON.stringify(manifest));
    const served = await startServer({ ensemble: await loadServedEnsemble(failedRun, { infer: 'onnx', workers: 0 }), port: 0, batchWindowMs: 2 });
    try {
      // When a request names it
      const response = await fetch(`${served.url}/v1/predict`, { method: 'POST', body: JSON.stringify({ images: [oneAsPixels()], members: ['broken'] }), headers: { 'content-type': 'application/json' } });
      // Then it is refused saying it failed, with the first line of its error, and what is served
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ error: 'member "broken" is not served: training failed: ENOSPC: no space left on device', hint: 'Members: dense (GET /v1/model lists them).' });
    } finally {
      await served.close();
    }
  });
});

describe('the tfjs fallback', () => {
  test('serves the same answers as ONNX Runtime (within 1e-4) and leaves no tensor behind', async () => {
    const ensemble = await loadServedEnsemble(runDir, { infer: 'tfjs' });
    const fallback = await startServer({ ensemble, port: 0, batchWindowMs: 2 });
    try {
      const images = [randomPixels(11), oneAsPixels()];
      const ask = async (payload: unknown) => {
        const response = await fetch(`${fallback.url}/v1/predict`, { method: 'POST', body: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
        expect(response.status).toBe(200);
        return (await response.json()) as PredictBody & { runtime: string };
      };
      const first = await ask({ images });
      expect(first.runtime).toBe('tfjs');
      const tensors = tf.memory().numTensors;
      for (let i = 0; i < 10; i++) await Promise.all([ask({ images }), ask({ images, tta: true }), ask({ images: [images[0]], members: ['conv'] })]);
      expect(tf.memory().numTensors).toBe(tensors);
      const onnx = await predictJson({ images });
      first.predictions.forEach((p, i) => expectClose(p.probabilities, Float32Array.from(onnx.predictions[i]!.probabilities), 1e-4));
    } finally {
      await fallback.close();
    }
  });
});
