/**
 * The ensemble over HTTP (Fastify), and the drawing pad.
 *
 *   GET  /               the draw-and-correct pad (one self-contained page, no external URLs)
 *   GET  /healthz        {status: "ok"} while serving (503 while shutting down)
 *   GET  /v1/model       members, checkpoints, validation scores, runtime, batching
 *   GET  /metrics        Prometheus text: requests, latency, batch sizes, errors, stage times
 *   POST /v1/predict     JSON {images: number[][], tta?, members?}, or a PNG/JPEG (raw body
 *                        with image/png or image/jpeg, or multipart files); options also in
 *                        the query (?tta=true&members=a,b)
 *   POST /v1/corrections {image: number[784], label, predicted} → appended to the store
 *
 * Every error is JSON `{error, hint}` with a 4xx status when the client can fix it. Predictions
 * go through the dynamic batcher (batcher.ts): concurrent requests share one run per member,
 * computed in the inference worker pool by default (inference-pool.ts), so this thread keeps
 * reading and answering requests meanwhile. `close()` stops listening, lets in-flight
 * requests finish (queued batches run at once), then releases the sessions and the workers.
 */
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import * as tf from '@tensorflow/tfjs';
import { TTA_8 } from '../ensemble/tta.js';
import { BatcherClosedError, DynamicBatcher } from './batcher.js';
import { CORRECTIONS_FILE, appendCorrection } from '../data/corrections.js';
import { parseCorrection } from './correction-input.js';
import type { ServedEnsemble } from './ensemble.js';
import type { WorkerStats } from './inference-pool.js';
import { InputError, PIXELS, imageFileToDigit, readPixelArray, toBytes } from './image-input.js';
import { PROMETHEUS_CONTENT_TYPE, ServerMetrics } from './metrics.js';
import { PAD_HTML } from './pad.js';

export interface ServerOptions {
  ensemble: ServedEnsemble;
  /** most images in one inference batch, and in one request (default 256) */
  maxBatch?: number;
  /** how long a batch waits for more requests (default 3 ms) */
  batchWindowMs?: number;
  /**
   * Batches computing at once (default 2 when the members run in the inference pool: the next
   * batch forms and queues while the last pieces of the previous one compute, so the workers
   * do not idle through the batching window; 1 in process, where a batch blocks the thread)
   */
  batchConcurrency?: number;
  /** the corrections store (default <run>/corrections.jsonl) */
  correctionsFile?: string;
  /** largest request body in bytes (default 8 MiB) */
  bodyLimit?: number;
  /** images allowed to wait for a batch before new requests get 503 (default 32 × maxBatch) */
  maxQueuedImages?: number;
  /** where internal errors are reported (default stderr) */
  log?: (line: string) => void;
}

export interface DigitsServer {
  app: FastifyInstance;
  batcher: DynamicBatcher;
  metrics: ServerMetrics;
  correctionsFile: string;
  /** requests being answered right now */
  inFlight(): number;
  /** stop listening, finish in-flight requests, release the sessions */
  close(options?: { graceMs?: number }): Promise<void>;
}

const ROUTES_HINT = 'Routes: GET / (drawing pad), GET /healthz, GET /v1/model, GET /metrics, POST /v1/predict, POST /v1/corrections.';
const PREDICT_HINT = 'POST JSON {"images": [[784 values 0–255 or 0–1]]}, or a PNG/JPEG as the body (Content-Type image/png or image/jpeg) or as multipart files.';

/** Per-request time spent turning the JSON body into an object (measured in the parser). */
const parseTimes = new WeakMap<object, number>();

function isTrue(value: unknown, what: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1' || value === '') return true;
  if (value === 'false' || value === '0') return false;
  throw new InputError(400, `${what} is ${JSON.stringify(value)}; it must be true or false`, 'Use tta=true or tta=false.', 'bad_option');
}

/** `ServedEnsemble` members by name → indices, for a request's `members` option. */
function memberIndices(ensemble: ServedEnsemble, value: unknown): number[] | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const names = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : null;
  if (!names || names.some((n) => typeof n !== 'string')) {
    throw new InputError(400, 'members must be a list of member names', 'Use members=a,b in the query or "members": ["a", "b"] in JSON.', 'bad_option');
  }
  const available = ensemble.members.map((m) => m.name);
  const indices: number[] = [];
  for (const raw of names as string[]) {
    const name = raw.trim();
    const index = available.indexOf(name);
    if (index < 0) throw new InputError(400, `there is no member ${JSON.stringify(name)} in this ensemble`, `Members: ${available.join(', ')} (GET /v1/model lists them).`, 'unknown_member');
    if (!indices.includes(index)) indices.push(index);
  }
  if (indices.length === 0) throw new InputError(400, 'members names no member', `Members: ${available.join(', ')}.`, 'unknown_member');
  return indices;
}

function rejectUnknownKeys(object: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw new InputError(400, `unknown ${where} option ${JSON.stringify(key)}`, `Allowed: ${allowed.join(', ')}.`, 'unknown_option');
  }
}

function unsupportedType(request: FastifyRequest, hint: string): InputError {
  const type = request.headers['content-type'];
  return new InputError(415, type ? `unsupported content type ${JSON.stringify(type)}` : 'the request has a body but no Content-Type', hint, 'unsupported_media_type');
}

function contentTypeOf(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

interface ParsedPredict {
  images: Float32Array;
  count: number;
  tta: boolean;
  members?: number[];
  /** the 28×28 digits made from uploaded files (0–255), to show what the members saw */
  inputs: number[][] | null;
}

export async function buildServer(options: ServerOptions): Promise<DigitsServer> {
  const { ensemble } = options;
  const maxBatch = Math.max(1, options.maxBatch ?? 256);
  const bodyLimit = options.bodyLimit ?? 8 * 1024 * 1024;
  const maxQueued = options.maxQueuedImages ?? 32 * maxBatch;
  const correctionsFile = path.resolve(options.correctionsFile ?? path.join(ensemble.runDir, CORRECTIONS_FILE));
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const memberNames = ensemble.members.map((m) => m.name);
  const runtime = [...new Set(ensemble.members.map((m) => m.predictor.kind))].join('+');
  const metrics = new ServerMetrics();
  const batcher = new DynamicBatcher(
    ensemble.members.map((m) => ({ name: m.name, predictor: m.predictor, weight: m.weight })),
    {
      maxBatch,
      windowMs: options.batchWindowMs ?? 3,
      concurrency: options.batchConcurrency ?? (ensemble.inference.mode === 'workers' ? 2 : 1),
      tta: TTA_8,
      onBatch: (stats) => {
        metrics.batchSize.observe(stats.images);
        metrics.batchRequests.observe(stats.requests);
        metrics.batchInfer.observe(stats.inferMs / 1000);
      },
    },
  );
  let inFlight = 0;
  const started = Date.now();
  metrics.gauge('digits_http_requests_in_flight', 'Requests being answered.', () => inFlight);
  metrics.gauge('digits_batch_queue_images', 'Images waiting for an inference batch.', () => batcher.queued);
  metrics.gauge('digits_members', 'Ensemble members served.', () => ensemble.members.length);
  // The tfjs fallback must not leak: this stays flat while serving (and constant on ONNX Runtime, which makes no tensors).
  metrics.gauge('digits_tfjs_tensors', 'Live tfjs tensors in this process.', () => tf.memory().numTensors);
  const pool = () => ensemble.inference.stats();
  if (ensemble.inference.mode === 'workers') {
    const perWorker = (read: (w: WorkerStats) => number) => () => (pool()?.workers ?? []).map((w) => ({ labels: { worker: String(w.index) }, value: read(w) }));
    metrics.gauge('digits_inference_workers_ready', 'Inference worker threads ready to take member calls.', () => pool()?.workers.filter((w) => w.state === 'ready').length ?? 0);
    metrics.gauge('digits_inference_queue_calls', 'Member calls waiting for a free inference worker.', () => pool()?.queued ?? 0);
    metrics.gauge('digits_inference_worker_restarts_total', 'Inference workers replaced after they stopped.', () => pool()?.restarts ?? 0, 'counter');
    metrics.gauge('digits_inference_worker_calls_total', 'Member calls answered, by worker.', perWorker((w) => w.calls), 'counter');
    metrics.gauge('digits_inference_worker_busy_seconds_total', 'Time spent computing member calls, by worker.', perWorker((w) => w.busyMs / 1000), 'counter');
  }
  // Event-loop delay: how late a 10 ms timer fires (a batch computed on this thread shows here).
  const LAG_MS = 10;
  let lagDue = performance.now() + LAG_MS;
  const lagTimer = setInterval(() => {
    const now = performance.now();
    metrics.eventLoopDelay.observe(Math.max(0, now - lagDue) / 1000);
    lagDue = now + LAG_MS;
  }, LAG_MS).unref();

  const app = Fastify({
    logger: false,
    bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    requestTimeout: 60_000,
  });

  // Only the bodies we read: JSON (timed), PNG/JPEG, multipart. Anything else is a 415.
  app.removeAllContentTypeParsers();
  const json = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const t0 = performance.now();
    json(request, body as string, (error, value) => {
      parseTimes.set(request, performance.now() - t0);
      done(error, value);
    });
  });
  app.addContentTypeParser(['image/png', 'image/jpeg', 'image/jpg'], { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  await app.register(multipart, {
    limits: { fileSize: bodyLimit, files: maxBatch, fields: 8, fieldSize: 4096, parts: maxBatch + 8, headerPairs: 64 },
  });

  app.addHook('onRequest', async (_request, reply) => {
    inFlight++;
    // 'close' fires once the response is sent or the client went away, whichever comes first.
    reply.raw.once('close', () => inFlight--);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.latency.observe(reply.elapsedTime / 1000, { route });
  });

  const sendError = (request: FastifyRequest, reply: FastifyReply, status: number, error: string, hint: string, kind: string) => {
    metrics.errors.inc({ route: request.routeOptions.url ?? 'unmatched', kind });
    return reply.code(status).type('application/json; charset=utf-8').send({ error, hint });
  };

  app.setNotFoundHandler((request, reply) => sendError(request, reply, 404, `no route ${request.method} ${request.url.split('?')[0]}`, ROUTES_HINT, 'not_found'));

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof InputError) return sendError(request, reply, error.status, error.message, error.hint, error.kind);
    if (error instanceof BatcherClosedError) return sendError(request, reply, 503, error.message, 'Retry against a running server.', 'closing');
    const e = error as Error & { code?: string; statusCode?: number };
    const mb = (bodyLimit / (1024 * 1024)).toFixed(bodyLimit % (1024 * 1024) ? 1 : 0);
    switch (e.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
      case 'FST_REQ_FILE_TOO_LARGE':
        return sendError(request, reply, 413, `the request body is larger than the ${mb} MiB limit`, `Send fewer images per request (at most ${maxBatch}), or smaller files.`, 'body_too_large');
      case 'FST_FILES_LIMIT':
      case 'FST_PARTS_LIMIT':
      case 'FST_FIELDS_LIMIT':
        return sendError(request, reply, 413, `too many parts in the multipart body (at most ${maxBatch} files)`, 'Split the upload into several requests.', 'too_many_parts');
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      {
        const unsupported = unsupportedType(request, request.url.startsWith('/v1/corrections') ? 'Send JSON with Content-Type: application/json.' : PREDICT_HINT);
        return sendError(request, reply, 415, unsupported.message, unsupported.hint, unsupported.kind);
      }
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendError(request, reply, 400, 'the JSON body is empty', request.url.startsWith('/v1/corrections') ? 'Send {"image": [784 values], "label": 0–9, "predicted": 0–9}.' : PREDICT_HINT, 'empty_body');
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return sendError(request, reply, 400, 'the body is not valid JSON (or uses the keys __proto__ or constructor, which are refused)', 'Check the JSON (a JSON validator names the position of the mistake).', 'invalid_json');
      default:
        break;
    }
    if (e instanceof SyntaxError || (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)) {
      const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 400;
      const kind = e instanceof SyntaxError ? 'invalid_json' : (e.code ?? 'bad_request').toLowerCase();
      return sendError(request, reply, status, e instanceof SyntaxError ? `the body is not valid JSON: ${e.message}` : e.message, e instanceof SyntaxError ? 'Check the JSON.' : PREDICT_HINT, kind);
    }
    log(`digits serve: internal error on ${request.method} ${request.url}: ${e.stack ?? e.message}`);
    return sendError(request, reply, 500, `internal error: ${e.message}`, 'This is a bug in digits (or the run folder changed under the server); the server keeps running. Please report it with the server log.', 'internal');
  });

  /* ---------- routes ---------- */

  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'")
      .header('cache-control', 'no-store')
      .send(PAD_HTML),
  );

  app.get('/healthz', async () => ({ status: 'ok', members: memberNames.length, uptimeSeconds: Math.round((Date.now() - started) / 1000) }));

  app.get('/metrics', async (_request, reply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(metrics.render()));

  app.get('/v1/model', async () => ({
    run: { dir: ensemble.runDir, name: ensemble.name },
    runtime,
    inference: { mode: ensemble.inference.mode, workers: ensemble.inference.workers, threadsPerSession: ensemble.inference.threadsPerSession, reason: ensemble.inference.reason },
    imageSize: ensemble.members[0]!.predictor.imageSize,
    classes: 10,
    members: ensemble.members.map((m) => ({
      name: m.name,
      preset: m.preset,
      checkpoint: m.checkpoint,
      runtime: m.predictor.kind,
      runtimeReason: m.predictor.reason,
      validation: m.validation,
      trainingValAcc: m.trainingValAcc,
      weight: m.weight,
    })),
    skipped: ensemble.skipped,
    ensemble: { voting: ensemble.members.some((m) => m.weight !== ensemble.members[0]!.weight) ? 'weighted soft' : 'soft', validation: ensemble.validation, note: ensemble.validation ? null : ensemble.evaluationNote },
    tta: { variants: TTA_8.length, shifts: TTA_8 },
    batching: { maxBatch, windowMs: batcher.windowMs, concurrentBatches: batcher.concurrency, maxImagesPerRequest: maxBatch },
    corrections: { file: correctionsFile },
    limits: { bodyBytes: bodyLimit, maxImagesPerRequest: maxBatch },
  }));

  const parsePredict = async (request: FastifyRequest): Promise<ParsedPredict> => {
    const query = (request.query ?? {}) as Record<string, unknown>;
    rejectUnknownKeys(query, ['tta', 'members'], 'query');
    let tta = isTrue(query.tta, 'tta');
    let members = memberIndices(ensemble, query.members);
    const type = contentTypeOf(request);
    if (type === 'application/json') {
      const body = request.body as unknown;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new InputError(400, 'the body must be a JSON object {images: [...]}', PREDICT_HINT, 'bad_body');
      }
      const object = body as Record<string, unknown>;
      rejectUnknownKeys(object, ['images', 'tta', 'members'], 'JSON');
      if (object.tta !== undefined) tta = isTrue(object.tta, 'tta');
      if (object.members !== undefined) members = memberIndices(ensemble, object.members);
      const list = object.images;
      if (!Array.isArray(list)) throw new InputError(400, `images is ${list === undefined ? 'missing' : `a ${typeof list}`}; it must be an array of images`, PREDICT_HINT, 'bad_body');
      if (list.length === 0) throw new InputError(400, 'images is empty', 'Send at least one image.', 'no_images');
      if (typeof list[0] === 'number') {
        throw new InputError(400, 'images is a flat list of numbers; it must be a list of images', `Wrap a single image in a list: {"images": [[${PIXELS} values]]}.`, 'bad_body');
      }
      if (list.length > maxBatch) throw new InputError(413, `${list.length} images in one request; the limit is ${maxBatch}`, `Split them into requests of at most ${maxBatch} images.`, 'too_many_images');
      const images = new Float32Array(list.length * PIXELS);
      list.forEach((image, i) => readPixelArray(image, images, i * PIXELS, `images[${i}]`));
      return { images, count: list.length, tta, members, inputs: null };
    }
    const files: Array<{ bytes: Uint8Array; what: string }> = [];
    if (type === 'image/png' || type === 'image/jpeg' || type === 'image/jpg') {
      files.push({ bytes: request.body as Buffer, what: 'the uploaded image' });
    } else if (request.isMultipart()) {
      try {
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            files.push({ bytes: await part.toBuffer(), what: `file ${JSON.stringify(part.filename ?? part.fieldname)}` });
          } else if (part.fieldname === 'tta') {
            tta = isTrue(part.value, 'tta');
          } else if (part.fieldname === 'members') {
            members = memberIndices(ensemble, part.value);
          } else {
            throw new InputError(400, `unknown form field ${JSON.stringify(part.fieldname)}`, 'Send image files, and optionally the fields tta and members.', 'unknown_option');
          }
        }
      } catch (error) {
        if (error instanceof InputError || (error as { statusCode?: number }).statusCode) throw error;
        throw new InputError(400, `the multipart body could not be read: ${(error as Error).message}`, 'Send a well-formed multipart/form-data body (curl -F file=@digit.png).', 'bad_multipart');
      }
      if (files.length === 0) throw new InputError(400, 'the multipart body holds no file', 'Attach the image as a file part (curl -F file=@digit.png).', 'no_images');
    } else {
      throw unsupportedType(request, PREDICT_HINT);
    }
    const images = new Float32Array(files.length * PIXELS);
    const inputs: number[][] = [];
    files.forEach((file, i) => {
      const digit = imageFileToDigit(file.bytes, file.what);
      images.set(digit, i * PIXELS);
      inputs.push(toBytes(digit));
    });
    return { images, count: files.length, tta, members, inputs };
  };

  app.post('/v1/predict', async (request) => {
    const t0 = performance.now();
    const parsed = await parsePredict(request);
    const parseMs = (parseTimes.get(request) ?? 0) + (performance.now() - t0);
    if (batcher.queued + parsed.count > maxQueued) {
      throw new InputError(503, `the server is overloaded (${batcher.queued} images waiting)`, 'Retry shortly, or send fewer concurrent requests.', 'overloaded');
    }
    const result = await batcher.submit({ images: parsed.images, count: parsed.count, tta: parsed.tta, members: parsed.members });
    metrics.stage.observe(parseMs / 1000, { stage: 'parse' });
    metrics.stage.observe(result.waitMs / 1000, { stage: 'wait' });
    metrics.stage.observe(result.inferMs / 1000, { stage: 'infer' });
    metrics.images.inc({}, parsed.count);
    const classes = result.classes;
    const names = result.memberIndices.map((i) => memberNames[i]!);
    const predictions = [];
    for (let i = 0; i < parsed.count; i++) {
      const probabilities = Array.from(result.ensemble.subarray(i * classes, (i + 1) * classes));
      let label = 0;
      for (let k = 1; k < classes; k++) if (probabilities[k]! > probabilities[label]!) label = k;
      const members: Record<string, number[]> = {};
      names.forEach((name, m) => {
        members[name] = Array.from(result.members[m]!.subarray(i * classes, (i + 1) * classes));
      });
      predictions.push({ label, probabilities, members, ...(parsed.inputs ? { input: parsed.inputs[i] } : {}) });
    }
    return {
      predictions,
      members: names,
      tta: parsed.tta,
      runtime,
      timing: { parseMs: round(parseMs), waitMs: round(result.waitMs), inferMs: round(result.inferMs), batchImages: result.batchImages, batchRequests: result.batchRequests },
    };
  });

  let savedCorrections = 0;
  app.post('/v1/corrections', async (request, reply) => {
    if (contentTypeOf(request) !== 'application/json') {
      throw unsupportedType(request, 'Send JSON {"image": [784 values], "label": 0–9, "predicted": 0–9}.');
    }
    const record = parseCorrection(request.body);
    try {
      await appendCorrection(correctionsFile, record);
    } catch (error) {
      log(`digits serve: cannot append to ${correctionsFile}: ${(error as Error).message}`);
      return sendError(request, reply, 500, `the correction could not be saved: ${(error as Error).message}`, `Check that ${correctionsFile} is writable and the disk is not full (serve --corrections <file> picks another file).`, 'store_failed');
    }
    savedCorrections++;
    metrics.corrections.inc();
    return reply.code(201).send({ saved: true, label: record.label, predicted: record.predicted, time: record.time, savedThisSession: savedCorrections, file: correctionsFile });
  });

  let closing: Promise<void> | null = null;
  const close = (closeOptions: { graceMs?: number } = {}): Promise<void> => {
    closing ??= (async () => {
      // Requests already queued need not wait out their batching window any more.
      batcher.hurry();
      const grace = closeOptions.graceMs ?? 10_000;
      const force = setTimeout(() => app.server.closeAllConnections(), grace);
      try {
        await app.close();
      } finally {
        clearTimeout(force);
      }
      await batcher.close();
      clearInterval(lagTimer);
      await ensemble.dispose();
    })();
    return closing;
  };

  return { app, batcher, metrics, correctionsFile, inFlight: () => inFlight, close };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export interface ListenOptions {
  host?: string;
  /** 0 picks a free port */
  port?: number;
}

export interface RunningServer extends DigitsServer {
  url: string;
  host: string;
  port: number;
}

/** Builds the server and listens; `url` is where it answers (with the real port when 0 was asked). */
export async function startServer(options: ServerOptions & ListenOptions): Promise<RunningServer> {
  const server = await buildServer(options);
  const host = options.host ?? '127.0.0.1';
  try {
    // One blank image through every member first: ONNX Runtime's first run allocates and
    // plans, which should not be the first client's latency.
    const side = options.ensemble.members[0]!.predictor.imageSize;
    for (const m of options.ensemble.members) await m.predictor.predict(new Float32Array(side * side), 1);
    await server.app.listen({ host, port: options.port ?? 8080 });
  } catch (error) {
    await server.close().catch(() => undefined);
    throw error;
  }
  const address = server.app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 8080);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { ...server, url: `http://${shownHost}:${port}`, host, port };
}
