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
 *   OPTIONS /v1/predict, /v1/corrections  CORS preflight: pages on an allowed origin may call both
 *
 * Every error is JSON `{error, hint}`, Fastify's own included (404, 405, 413, 415, 429, 503
 * while closing, a malformed URL, a malformed request line), with a 4xx status when the
 * client can fix it. Predictions go through the dynamic batcher (batcher.ts): concurrent
 * requests share one run per member, computed in the inference worker pool by default
 * (inference-pool.ts); PNG/JPEG files are checked from their headers here and decoded in the
 * decode pool (decode-pool.ts), so this thread only reads, checks and answers.
 *
 * Hostile input and overload (issue 14): one body limit for the whole request whatever its
 * encoding (multipart included, counted as it streams), at most `maxFiles` files and
 * `maxBatch` images (JSON or files), at most 4 megapixels declared per image (before
 * decoding), request bodies in flight bounded in bytes and queued decoding bounded in pixels
 * (503 with a hint beyond), corrections behind a record size cap, a per-client rate limit
 * (counting refused attempts), Host/Origin checks and an optional bearer token. `close()`
 * stops listening, lets in-flight requests finish for up to the grace period, names any it
 * had to cut, then releases the workers.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import * as tf from '../engine/tf.js';
import { TTA_8 } from '../ensemble/tta.js';
import { BatcherAbortedError, BatcherClosedError, DynamicBatcher } from './batcher.js';
import { CORRECTIONS_FILE, appendCorrection, checkCorrectionsStore } from '../data/corrections.js';
import { parseCorrection } from './correction-input.js';
import { DecodePool } from './decode-pool.js';
import type { WorkerStats } from './inference-pool.js';
import { InputError, MAX_IMAGE_PIXELS } from './image-input.js';
import { ServerMetrics } from './metrics.js';
import { UserError } from '../errors.js';
import { padHtml } from './pad.js';
import { MAX_FIELD_BYTES, PREDICT_HINT, type PredictLimits, bodyTooLarge, contentTypeOf, readPredictRequest, unsupportedType } from './predict-input.js';
import { MAX_JSON_DEPTH, jsonNestingBeyond } from './json-depth.js';
import { plainLogLines } from './log-lines.js';
import { type Refusal, WriteAccess, isLoopbackHost } from './write-access.js';

import type { CloseReport, ServerOptions } from './server-options.js';
export type { CloseReport, ServerOptions } from './server-options.js';

export interface DigitsServer {
  app: FastifyInstance;
  batcher: DynamicBatcher;
  metrics: ServerMetrics;
  correctionsFile: string;
  /** requests being answered right now */
  inFlight(): number;
  /** stop listening, finish in-flight requests for up to `graceMs` (default 30 s), release the workers */
  close(options?: { graceMs?: number }): Promise<CloseReport>;
}

/** The largest correction body: one record of 784 pixels written as long floats is ~20 KB. */
export const CORRECTION_BODY_LIMIT = 64 * 1024;
export const DEFAULT_GRACE_MS = 30_000;
/** An upload declared this small (a pad drawing, a phone crop) is never refused for a full decode queue: it decodes in the small lane. */
const SMALL_UPLOAD_BYTES = 256 * 1024;

/**
 * Routes a page on an --allowed-origin may call from its own origin (CORS): it predicts, then
 * saves corrections (JSON with a bearer token, so the browser preflights with OPTIONS first).
 * Other origins get no CORS headers: their pages cannot read our answers (write-access.ts).
 */
const CORS_ROUTES = new Set(['/v1/predict', '/v1/corrections']);

const ROUTES_HINT = 'Routes: GET / (drawing pad), GET /healthz, GET /v1/model, GET /metrics, POST /v1/predict, POST /v1/corrections.';

/** Per-request time spent turning the JSON body into an object (measured in the parser). */
const parseTimes = new WeakMap<object, number>();

export { jsonLogLines } from './log-lines.js';

export async function buildServer(options: ServerOptions): Promise<DigitsServer> {
  const { ensemble } = options;
  const maxBatch = Math.max(1, options.maxBatch ?? 256);
  const bodyLimit = options.bodyLimit ?? 8 * 1024 * 1024;
  const maxFiles = Math.max(1, options.maxFiles ?? 16);
  // A multipart request is also held to --max-batch: its files are images.
  const filesPerRequest = Math.min(maxFiles, maxBatch);
  const limits: PredictLimits = { maxBatch, filesPerRequest, bodyLimit };
  const maxBodyBytesInFlight = options.maxBodyBytesInFlight ?? 8 * bodyLimit;
  const maxQueued = options.maxQueuedImages ?? 32 * maxBatch;
  const minBodyRate = options.minBodyBytesPerSecond ?? 16 * 1024;
  const slowBodyGraceMs = options.slowBodyGraceMs ?? 10_000;
  const correctionsFile = path.resolve(options.correctionsFile ?? path.join(ensemble.runDir, CORRECTIONS_FILE));
  // Replies name the store relative to the run folder (or by its name), never by an absolute path.
  const relativeStore = path.relative(ensemble.runDir, correctionsFile);
  const shownStore = relativeStore.startsWith('..') || path.isAbsolute(relativeStore) ? path.basename(correctionsFile) : relativeStore;
  await checkCorrectionsStore(correctionsFile);
  // A store's folder that exists now must still exist when a correction comes (a --corrections
  // path in a folder yet to be made is created by the first append, as before).
  const storeDir = path.dirname(correctionsFile);
  const storeDirAtStart = await stat(storeDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  const log = options.log ?? plainLogLines;
  const access = new WriteAccess({ host: options.host, allowedOrigins: options.allowedOrigins, token: options.token });
  const decodePool = new DecodePool({ ...options.decode, onWorkerExit: (reason) => log(`digits serve: an image decoder stopped (${reason}); replaced`, 'warn') });
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
  let bodyBytesInFlight = 0;
  const started = Date.now();
  metrics.gauge('digits_http_requests_in_flight', 'Requests being answered.', () => inFlight);
  metrics.gauge('digits_http_body_bytes_in_flight', 'Request body bytes reserved by uploads being received (declared length, or the body limit).', () => bodyBytesInFlight);
  metrics.gauge('digits_decode_queue_files', 'Image files waiting for a decoding worker.', () => decodePool.queued);
  metrics.gauge('digits_decode_queue_pixels', 'Declared pixels of the large image files waiting for a decoding worker.', () => decodePool.queuedPixels);
  metrics.gauge('digits_decoders_running', 'Image decoder processes running (they exit after a few seconds with nothing to decode).', () => decodePool.running);
  metrics.gauge('digits_decode_files_total', 'Image files decoded (or refused by the decoder).', () => decodePool.decoded, 'counter');
  metrics.gauge('digits_batch_queue_images', 'Images waiting for an inference batch.', () => batcher.queued);
  metrics.gauge('digits_members', 'Ensemble members served.', () => ensemble.members.length);
  // The tfjs fallback must not leak: this stays flat while serving (and constant on ONNX Runtime, which makes no tensors).
  metrics.gauge('digits_tfjs_tensors', 'Live tfjs tensors in this process.', () => tf.memory().numTensors);
  const pool = () => ensemble.inference.stats();
  if (ensemble.inference.mode === 'workers') {
    const perWorker = (read: (w: WorkerStats) => number) => () => (pool()?.workers ?? []).map((w) => ({ labels: { worker: String(w.index) }, value: read(w) }));
    const byWorker = ['worker'];
    metrics.gauge('digits_inference_workers_ready', 'Inference worker threads ready to take member calls.', () => pool()?.workers.filter((w) => w.state === 'ready').length ?? 0);
    metrics.gauge('digits_inference_queue_calls', 'Member calls waiting for a free inference worker.', () => pool()?.queued ?? 0);
    metrics.gauge('digits_inference_worker_restarts_total', 'Inference workers replaced after they stopped.', () => pool()?.restarts ?? 0, 'counter');
    metrics.gauge('digits_inference_worker_calls_total', 'Member calls answered, by worker.', perWorker((w) => w.calls), 'counter', byWorker);
    metrics.gauge('digits_inference_worker_busy_seconds_total', 'Time spent computing member calls, by worker.', perWorker((w) => w.busyMs / 1000), 'counter', byWorker);
  }
  // Event-loop delay: how late a 10 ms timer fires (a batch computed on this thread shows here).
  const LAG_MS = 10;
  let lagDue = performance.now() + LAG_MS;
  const lagTimer = setInterval(() => {
    const now = performance.now();
    metrics.eventLoopDelay.observe(Math.max(0, now - lagDue) / 1000);
    lagDue = now + LAG_MS;
  }, LAG_MS).unref();

  const errorBody = (error: string, hint: string) => JSON.stringify({ error, hint });
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit,
    // Our own 503 in our shape (the onRequest hook below), not Fastify's.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    requestTimeout: 60_000,
    // An HTTP/1.1 request without Host is refused below in our shape: Node's own answer is a bare 400 with no body.
    http: { requireHostHeader: false },
    // A URL that does not decode (/%zz) reaches no route: answered here in our shape.
    frameworkErrors: (error, request, reply) => {
      void sendError(request, reply, 400, `the URL could not be read: ${error.message}`, 'Percent-encode the path and query properly (e.g. %25 for a literal %).', 'bad_url');
    },
    // A request Node's HTTP parser refuses (malformed request line or headers, headers too large, too slow to arrive).
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const body =
        status === 408
          ? errorBody('the request did not arrive in time', 'Send the whole request within 60 s.')
          : status === 431
            ? errorBody('the request line and headers are too large', 'Send a shorter URL (images go in the body of a POST, not in the query string) and fewer or shorter headers.')
            : errorBody(`the request could not be parsed as HTTP/1.1 (${error.code ?? error.message})`, 'Send a well-formed HTTP request (curl or any HTTP client does).');
      metrics.errors.inc({ route: 'unmatched', kind: status === 400 ? 'bad_http' : String(status) });
      const message = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && !message?.headersSent) {
        socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      } else {
        socket.destroy(error);
      }
    },
  });

  // Only the bodies we read: JSON (timed), PNG/JPEG, multipart. Anything else is a 415.
  app.removeAllContentTypeParsers();
  const json = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const t0 = performance.now();
    // JSON.parse has no depth limit: 8 MB of "[[[[…" took it 20–30 s and 800 MB. Nothing we
    // read nests deeper than 3 ({"images": [[…]]}), so a cheap scan refuses deeper bodies first.
    const depth = jsonNestingBeyond(body as string, MAX_JSON_DEPTH);
    if (depth > MAX_JSON_DEPTH) {
      done(new InputError(400, `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`, request.url.startsWith('/v1/corrections') ? 'Send {"image": [784 values], "label": 0–9, "predicted": 0–9}.' : PREDICT_HINT, 'json_too_deep'), undefined);
      return;
    }
    json(request, body as string, (error, value) => {
      parseTimes.set(request, performance.now() - t0);
      done(error, value);
    });
  });
  app.addContentTypeParser(['image/png', 'image/jpeg', 'image/jpg'], { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  await app.register(multipart, {
    limits: { fileSize: bodyLimit, files: maxFiles, fields: 8, fieldSize: MAX_FIELD_BYTES, parts: maxFiles + 8, headerPairs: 64 },
  });
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) =>
      new InputError(context.statusCode, `too many corrections from this address (at most ${context.max} a minute, refused attempts included)`, `Wait ${context.after} before saving more.`, 'rate_limited'),
  });

  /** Routes by path, with their methods: a known path asked with another method is a 405. */
  const routeMethods = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const methods = routeMethods.get(route.url) ?? new Set<string>();
    for (const method of [route.method].flat()) methods.add(method);
    routeMethods.set(route.url, methods);
  });

  /**
   * The route a request is counted under in /metrics: its route; a known path asked with a
   * method it does not take (a 405) under that path, which is what the client meant; anything
   * else under 'unmatched' (so that scanners' paths cannot grow the label set).
   */
  function routeLabel(request: FastifyRequest): string {
    const route = request.routeOptions?.url;
    if (route) return route;
    const pathname = request.url.split('?')[0]!;
    return routeMethods.has(pathname) ? pathname : 'unmatched';
  }

  let closing = false;
  /** requests being answered, for the shutdown report */
  const active = new Map<FastifyRequest, { method: string; url: string; started: number; atClose: boolean }>();
  let finishedAfterClose = 0;

  app.addHook('onRequest', async (request, reply) => {
    inFlight++;
    const entry = { method: request.method, url: request.url.slice(0, 200), started: performance.now(), atClose: false };
    active.set(request, entry);
    // 'close' fires once the response is sent or the client went away, whichever comes first.
    reply.raw.once('close', () => {
      inFlight--;
      active.delete(request);
      if (entry.atClose && reply.raw.writableFinished) finishedAfterClose++;
    });
    // Set first, so every answer of these routes carries them, errors (429, 503, …) included.
    if (CORS_ROUTES.has(request.url.split('?')[0]!)) {
      reply.header('vary', 'Origin');
      const origin = access.corsOrigin(request.headers.origin);
      if (origin !== undefined) reply.header('access-control-allow-origin', origin);
    }
    // HTTP/1.1 requires Host (RFC 9112, 3.2); Node would answer a bare 400 (requireHostHeader, turned off above).
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
      reply.header('connection', 'close');
      return sendError(request, reply, 400, 'the request has no Host header (HTTP/1.1 requires one)', 'Send a Host header (curl and browsers do), e.g. Host: 127.0.0.1:8080.', 'no_host');
    }
    if (closing) {
      // (Fastify has set Connection: close on this response.)
      return sendError(request, reply, 503, 'the server is shutting down', 'Retry against a running server.', 'closing');
    }
    // We read bodies as sent: a compressed one would only fail later as "not valid JSON" or a corrupt image.
    const encoding = request.headers['content-encoding'];
    if (request.method === 'POST' && encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      return sendError(request, reply, 415, `unsupported content encoding ${JSON.stringify(encoding.slice(0, 100))}`, 'Send the body uncompressed, without a Content-Encoding header.', 'unsupported_encoding');
    }
    if (request.method === 'POST' && request.url.startsWith('/v1/predict')) {
      // One limit for the whole body, checked from its declared length before reading it.
      const declared = Number(request.headers['content-length']);
      if (Number.isFinite(declared) && declared > bodyLimit) return sendError(request, reply, 413, ...bodyTooLarge(limits));
      // Image uploads while the decoders' queue is full are refused before their bodies are read.
      if (decodePool.full && contentTypeOf(request) !== 'application/json' && !(Number.isFinite(declared) && declared <= SMALL_UPLOAD_BYTES)) {
        reply.header('retry-after', '1');
        return sendError(request, reply, 503, `the server is busy decoding images (${(decodePool.queuedPixels / 1e6).toFixed(1)} megapixels waiting)`, 'Retry in a few seconds, send smaller images, or fewer files per request.', 'decode_busy');
      }
      // Bodies being received at once are bounded: a chunked body reserves the whole limit.
      const reserve = Number.isFinite(declared) && declared >= 0 ? declared : bodyLimit;
      if (bodyBytesInFlight + reserve > maxBodyBytesInFlight) {
        return sendError(request, reply, 503, `the server is receiving too many uploads (${(bodyBytesInFlight / 2 ** 20).toFixed(1)} MiB in flight)`, 'Retry in a few seconds, or send smaller or fewer concurrent uploads.', 'uploads_busy');
      }
      bodyBytesInFlight += reserve;
      reply.raw.once('close', () => (bodyBytesInFlight -= reserve));
      watchBodyRate(request, reply);
    }
  });

  /**
   * A body sent slower than `minBodyRate` (on average, once `slowBodyGraceMs` has passed) ends
   * with a 408 and its connection closes, releasing its share of the upload budget: eight
   * clients trickling a byte a second held the whole budget (every upload a 503) until Node's
   * 60 s request timeout. Bytes are read off the socket's counter (no listener on the body,
   * which the parsers read); time when this thread was too busy to check (a tick that fires
   * late) does not count against the client.
   */
  function watchBodyRate(request: FastifyRequest, reply: FastifyReply) {
    const socket = request.raw.socket;
    if (!socket || request.raw.complete) return;
    const base = socket.bytesRead;
    const tickMs = Math.min(1000, Math.max(20, slowBodyGraceMs / 4));
    let countedMs = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      if (request.raw.complete || reply.sent || socket.destroyed) return stop();
      const now = performance.now();
      const step = now - last;
      last = now;
      if (step < 4 * tickMs) countedMs += step;
      const received = socket.bytesRead - base;
      if (countedMs <= slowBodyGraceMs || received >= (minBodyRate * (countedMs - slowBodyGraceMs)) / 1000) return;
      stop();
      // The parsers stop reading (they would answer again when the connection closes); the connection closes after our answer.
      request.raw.unpipe();
      for (const event of ['data', 'end', 'error']) request.raw.removeAllListeners(event);
      reply.header('connection', 'close');
      reply.raw.once('finish', () => socket.destroy());
      const seconds = Math.round(countedMs / 100) / 10;
      void sendError(request, reply, 408, `the request body arrived too slowly (${received} bytes in ${seconds} s)`, `Send the body at ${Math.round(minBodyRate / 1024)} KiB/s or faster (after the first ${slowBodyGraceMs / 1000} s).`, 'body_too_slow');
    }, tickMs).unref();
    const stop = () => clearInterval(timer);
    reply.raw.once('close', stop);
    request.raw.once('end', stop);
  }
  // While closing, a connection that falls idle after its answer is closed at once (a kept-alive
  // one would otherwise hold the close for its keep-alive timeout); one with a request already
  // waiting behind it is not idle, so that request still gets its answer (our 503).
  app.addHook('onResponse', async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = routeLabel(request);
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
  });

  function sendError(request: FastifyRequest, reply: FastifyReply, status: number, error: string, hint: string, kind: string) {
    metrics.errors.inc({ route: routeLabel(request), kind });
    if (status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
    if ((status === 413 || status === 503) && !request.raw.complete) {
      // A body refused before it was all read. Closing at once would reset the connection while
      // the client still sends (unread bytes make the kernel send RST), and it would lose our
      // answer; so the rest is read and discarded (Node does so after the reply) for at most
      // 5 s. A declared length far beyond the limit is not worth reading: that connection ends.
      const declared = Number(request.headers['content-length']);
      if (Number.isFinite(declared) && declared > 4 * bodyLimit) reply.header('connection', 'close');
      else {
        reply.raw.once('finish', () => {
          if (request.raw.complete) return;
          // As Node's own discard does (IncomingMessage._dump), also when a parser had been reading it.
          request.raw.unpipe();
          request.raw.removeAllListeners('data');
          request.raw.resume();
          const timer = setTimeout(() => request.raw.socket?.destroy(), 5000);
          request.raw.once('end', () => clearTimeout(timer));
          request.raw.once('close', () => clearTimeout(timer));
        });
      }
    }
    return reply.code(status).type('application/json; charset=utf-8').send({ error, hint });
  }
  function sendRefusal(request: FastifyRequest, reply: FastifyReply, refusal: Refusal) {
    for (const [name, value] of Object.entries(refusal.headers ?? {})) reply.header(name, value);
    return sendError(request, reply, refusal.status, refusal.error, refusal.hint, refusal.kind);
  }

  app.setNotFoundHandler((request, reply) => {
    const pathname = request.url.split('?')[0]!;
    const methods = routeMethods.get(pathname);
    if (methods && !methods.has(request.method)) {
      const allow = [...methods].sort();
      reply.header('allow', allow.join(', '));
      // (OPTIONS, the browsers' preflight, is in Allow but not worth suggesting)
      return sendError(request, reply, 405, `${pathname} does not take ${request.method}`, `Use ${allow.filter((m) => m !== 'OPTIONS').join(', ')}. ${ROUTES_HINT}`, 'method_not_allowed');
    }
    return sendError(request, reply, 404, `no route ${request.method} ${pathname}`, ROUTES_HINT, 'not_found');
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof InputError) return sendError(request, reply, error.status, error.message, error.hint, error.kind);
    if (error instanceof BatcherClosedError) return sendError(request, reply, 503, error.message, 'Retry against a running server.', 'closing');
    // (its client is gone, or was cut at shutdown: this answer reaches nobody, but is counted)
    if (error instanceof BatcherAbortedError) return sendError(request, reply, 503, error.message, 'Retry against a running server.', 'abandoned');
    const e = error as Error & { code?: string; statusCode?: number };
    switch (e.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
      case 'FST_REQ_FILE_TOO_LARGE':
        if (request.url.startsWith('/v1/corrections')) {
          return sendError(request, reply, 413, `the correction is larger than ${CORRECTION_BODY_LIMIT / 1024} KiB`, 'A correction is one 28×28 image: {"image": [784 values], "label": 0–9, "predicted": 0–9}.', 'body_too_large');
        }
        return sendError(request, reply, 413, ...bodyTooLarge(limits));
      case 'FST_FILES_LIMIT':
      case 'FST_PARTS_LIMIT':
      case 'FST_FIELDS_LIMIT':
        return sendError(request, reply, 413, `too many parts in the multipart body (at most ${maxFiles} files)`, 'Split the upload into several requests.', 'too_many_parts');
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
    log(`digits serve: internal error on ${request.method} ${request.url}: ${e.stack ?? e.message}`, 'error');
    if (typeof e.statusCode === 'number' && e.statusCode === 503) return sendError(request, reply, 503, e.message, 'Retry shortly.', 'unavailable');
    return sendError(request, reply, 500, `internal error: ${e.message}`, 'This is a bug in digits (or the run folder changed under the server); the server keeps running. Please report it with the server log.', 'internal');
  });

  /* ---------- routes ---------- */

  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'")
      .header('cache-control', 'no-store')
      .send(padHtml({ tta: ensemble.tta.default })),
  );

  app.get('/healthz', async () => ({ status: 'ok', members: memberNames.length, uptimeSeconds: Math.round((Date.now() - started) / 1000) }));

  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()));

  app.get('/v1/model', async () => ({
    // Paths as seen from the project (the server's folder), never the machine's absolute layout.
    run: { dir: shownPath(ensemble.runDir), name: ensemble.name },
    runtime,
    inference: { mode: ensemble.inference.mode, workers: ensemble.inference.workers, threadsPerSession: ensemble.inference.threadsPerSession, reason: ensemble.inference.reason },
    imageSize: ensemble.members[0]!.predictor.imageSize,
    // (JSON images: upright, row by row; "layout": "competition" turns rows as the competition's CSV holds them, as its import did)
    input: { layout: 'upright', competitionOrientation: ensemble.orientation },
    classes: 10,
    members: ensemble.members.map((m) => ({
      name: m.name,
      preset: m.preset,
      checkpoint: path.relative(ensemble.runDir, m.checkpoint),
      runtime: m.predictor.kind,
      runtimeReason: m.predictor.reason,
      validation: m.validation,
      trainingValAcc: m.trainingValAcc,
      weight: m.weight,
      // (k-fold: a request's `members` may name the recipe for all its folds)
      ...(m.recipe !== undefined ? { recipe: m.recipe } : {}),
    })),
    skipped: ensemble.skipped,
    ensemble: { voting: ensemble.voting, validation: ensemble.validation, note: ensemble.validation ? null : ensemble.evaluationNote },
    // (`default`: what a request that does not say gets, as the submission uses it)
    tta: { variants: TTA_8.length, shifts: TTA_8, default: ensemble.tta.default, reason: ensemble.tta.reason },
    batching: { maxBatch, windowMs: batcher.windowMs, concurrentBatches: batcher.concurrency, maxImagesPerRequest: maxBatch },
    corrections: { file: shownStore, token: access.tokenRequired, perMinute: options.correctionsPerMinute ?? 30 },
    limits: { bodyBytes: bodyLimit, maxImagesPerRequest: maxBatch, maxFilesPerRequest: filesPerRequest, maxImagePixels: MAX_IMAGE_PIXELS },
  }));

  app.post('/v1/predict', async (request, reply) => {
    const t0 = performance.now();
    // A client that hangs up before its answer: its images still waiting for a batch are dropped, not computed for nobody.
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
    const parsed = await readPredictRequest(request, ensemble, decodePool, limits);
    const parseMs = (parseTimes.get(request) ?? 0) + (performance.now() - t0);
    if (batcher.queued + parsed.count > maxQueued) {
      throw new InputError(503, `the server is overloaded (${batcher.queued} images waiting)`, 'Retry shortly, or send fewer concurrent requests.', 'overloaded');
    }
    const result = await batcher.submit({ images: parsed.images, count: parsed.count, tta: parsed.tta, members: parsed.members, signal: gone.signal });
    metrics.stage.observe({ stage: 'parse' }, parseMs / 1000);
    metrics.stage.observe({ stage: 'wait' }, result.waitMs / 1000);
    metrics.stage.observe({ stage: 'infer' }, result.inferMs / 1000);
    metrics.images.inc(parsed.count);
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

  // Saving corrections: the Host, Origin and token checks of write-access.ts.
  const checkWrite = async (request: FastifyRequest, reply: FastifyReply) => {
    const refusal = access.checkWrite(request.headers);
    if (refusal) return sendRefusal(request, reply, refusal);
  };
  // A browser's CORS preflight (the onRequest hook has added Access-Control-Allow-Origin and Vary).
  const preflight = async (request: FastifyRequest, reply: FastifyReply) => {
    const answer = access.preflight(request.headers);
    if ('status' in answer) return sendRefusal(request, reply, answer);
    return reply.code(204).headers(answer.headers).send();
  };
  for (const route of CORS_ROUTES) app.options(route, preflight);

  // The rate limit runs before checkWrite, so refused writes (a wrong token, a foreign Origin) count too: a token cannot be guessed faster than --corrections-per-minute.
  const correctionsLimit = app.rateLimit({ max: options.correctionsPerMinute ?? 30, timeWindow: 60_000 });
  let savedCorrections = 0;
  app.post('/v1/corrections', { bodyLimit: CORRECTION_BODY_LIMIT, onRequest: [correctionsLimit, checkWrite] }, async (request, reply) => {
    // As /v1/predict refuses an unknown query key: here every key is unknown (it was accepted and dropped).
    const queryKey = Object.keys((request.query ?? {}) as Record<string, unknown>)[0];
    if (queryKey !== undefined) {
      throw new InputError(400, `unknown query option ${JSON.stringify(queryKey)}`, 'POST /v1/corrections takes no query options: send {"image": [784 values], "label": 0–9, "predicted": 0–9} as the JSON body.', 'unknown_option');
    }
    if (contentTypeOf(request) !== 'application/json') {
      throw unsupportedType(request, 'Send JSON {"image": [784 values], "label": 0–9, "predicted": 0–9}.');
    }
    const record = parseCorrection(request.body);
    // A run folder renamed or deleted under the server must not come back as a stray folder
    // holding only corrections.jsonl: its absence is a 500 naming it. Checked first, and the
    // append then creates no folder when the store's existed at start, so a folder removed
    // between this check and the append is an ENOENT, the same answer.
    const storeGone = () => {
      const runGone = storeDir === path.resolve(ensemble.runDir);
      log(`digits serve: cannot append to ${correctionsFile}: its folder ${storeDir} no longer exists`, 'error');
      return sendError(
        request,
        reply,
        500,
        runGone ? `the correction could not be saved: the run folder ${shownPath(ensemble.runDir)} is gone (moved or deleted while serving)` : `the correction could not be saved: the folder of the corrections store ${shownStore} is gone`,
        runGone ? 'Restart digits serve on the run where it is now (--run), or put the folder back.' : 'Recreate that folder, or restart digits serve with another --corrections.',
        'store_gone',
      );
    };
    const folderGone =
      storeDirAtStart &&
      (await stat(storeDir).then(
        (s) => !s.isDirectory(),
        () => true,
      ));
    if (folderGone) return storeGone();
    try {
      await appendCorrection(correctionsFile, record, { createFolders: !storeDirAtStart });
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'error';
      if (storeDirAtStart && code === 'ENOENT') return storeGone();
      // The full path goes to the server's log only; the reply names the store as the model card does.
      log(`digits serve: cannot append to ${correctionsFile}: ${(error as Error).message}`, 'error');
      return sendError(request, reply, 507, `the correction could not be saved (${code})`, `The server cannot write its corrections store ${shownStore}; its log says why (a full disk?).`, 'store_failed');
    }
    savedCorrections++;
    metrics.corrections.inc();
    return reply.code(201).send({ saved: true, label: record.label, predicted: record.predicted, time: record.time, savedThisSession: savedCorrections, file: shownStore });
  });

  let closed: Promise<CloseReport> | null = null;
  const close = (closeOptions: { graceMs?: number } = {}): Promise<CloseReport> => {
    closed ??= (async () => {
      closing = true;
      for (const entry of active.values()) entry.atClose = true;
      // Requests already queued need not wait out their batching window any more.
      batcher.hurry();
      const grace = closeOptions.graceMs ?? DEFAULT_GRACE_MS;
      const cut: CloseReport['cut'] = [];
      const force = setTimeout(() => {
        // The grace period is over: whatever is still being answered is cut, and said so.
        for (const entry of active.values()) {
          const seconds = Math.round((performance.now() - entry.started) / 100) / 10;
          cut.push({ method: entry.method, url: entry.url, seconds });
          // Said once, through the server's own report lines (JSON lines under --json); a pino
          // line beside it said the same thing twice on stderr.
          log(`digits serve: cut ${entry.method} ${entry.url} after ${seconds} s: the ${grace / 1000} s grace period ended before it was answered`, 'warn');
        }
        // Their clients are cut: the images still waiting for a batch are dropped, so the
        // process exits once the batches already computing end, not after the whole queue.
        batcher.dropQueued('the server stopped (its grace period ended) before this request was computed');
        app.server.closeAllConnections();
      }, grace);
      try {
        await app.close();
      } finally {
        clearTimeout(force);
      }
      await batcher.close();
      await decodePool.close();
      clearInterval(lagTimer);
      await ensemble.dispose();
      return { finished: finishedAfterClose, cut };
    })();
    return closed;
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
  const host = options.host ?? '127.0.0.1';
  let server: DigitsServer;
  try {
    // Beyond loopback anyone on the network could write training data: a token is required.
    if (!isLoopbackHost(host) && options.token === undefined) {
      throw new UserError(`listening on ${host} (beyond this machine) needs a token for writes`, { where: { flag: 'token' }, hint: 'Add --token <long random string> (or DIGITS_SERVE_TOKEN); the pad takes it as http://host:port/#token=<token>.' });
    }
    server = await buildServer({ ...options, host });
  } catch (error) {
    // Nothing listens: the members' sessions and workers are released before the error goes up.
    await options.ensemble.dispose().catch(() => undefined);
    throw error;
  }
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

/** A path relative to the working folder (the project) when inside it; else only its last two parts. */
function shownPath(file: string): string {
  const inside = path.relative(process.cwd(), file);
  return inside && !inside.startsWith('..') && !path.isAbsolute(inside) ? inside : path.join(path.basename(path.dirname(file)), path.basename(file));
}
