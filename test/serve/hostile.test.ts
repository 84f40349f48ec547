/**
 * Hostile input and overload (issue 14), each rule on a real server over loopback: images
 * refused from their headers before decoding, decoding off the HTTP thread, one body limit
 * for a whole multipart (declared or chunked), bounded uploads and decode queue, every
 * error in our {error, hint} shape (Fastify's and Node's own included), the shutdown that
 * waits and reports what it cut, and the corrections endpoint's guards.
 */
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { UserError } from '../../src/errors.js';
import { loadServedEnsemble } from '../../src/serve/ensemble.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/serve/server.js';
import { makeRun, oneAsPixels, pngOf, sevenOnPaper } from './helpers.js';

let root: string;
let runDir: string;
const started: RunningServer[] = [];

beforeAll(async () => {
  await initEngine({ backend: 'wasm', ortKernels: false });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-hostile-'));
  runDir = await makeRun(root, [{ name: 'm1', preset: 'mlp', seed: 5 }]);
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.close({ graceMs: 1000 }).catch(() => undefined)));
  await rm(root, { recursive: true, force: true });
});

/** A server over the tiny run, members in process (cheap to start), on a free loopback port. */
async function serve(options: Partial<ServerOptions> & { host?: string } = {}): Promise<RunningServer> {
  const ensemble = await loadServedEnsemble(runDir, { infer: 'onnx', workers: 0, threads: 1 });
  const server = await startServer({ ensemble, port: 0, batchWindowMs: 2, bodyLimit: 1024 * 1024, log: () => undefined, ...options });
  started.push(server);
  return server;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: { error?: unknown; hint?: unknown } & Record<string, unknown>;
}

/** One request through node:http (which, unlike fetch, lets a test set Host). */
function request(server: RunningServer, method: string, route: string, headers: Record<string, string> = {}, body?: Buffer | string, agent?: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path: route, headers: agent ? headers : { connection: 'close', ...headers }, agent: agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = {};
        try {
          json = JSON.parse(text);
        } catch {
          /* left empty: the assertion on the shape shows the text */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Raw bytes on a fresh socket; resolves with everything the server sent until it closed. */
function raw(server: RunningServer, bytes: string | Buffer, options: { keepOpenMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(bytes);
    setTimeout(() => socket.destroy(), options.keepOpenMs ?? 5000);
  });
}

function parseRaw(text: string): { status: number; body: { error?: unknown; hint?: unknown } } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return { status, body: JSON.parse(body) as { error?: unknown; hint?: unknown } };
}

function expectShape(answer: { status: number; json?: Answer['json']; body?: Answer['json'] }, status: number, error?: RegExp): void {
  const body = answer.json ?? answer.body!;
  expect(answer.status, JSON.stringify(body)).toBe(status);
  expect(Object.keys(body).sort()).toEqual(['error', 'hint']);
  expect(typeof body.error).toBe('string');
  expect(typeof body.hint).toBe('string');
  if (error) expect(body.error).toMatch(error);
}

/** multipart/form-data of files, by hand (so a test controls every byte). */
function multipart(files: Buffer[], boundary = 'digitsboundary'): { body: Buffer; type: string } {
  const parts: Buffer[] = [];
  files.forEach((file, i) => {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f${i}"; filename="f${i}.png"\r\nContent-Type: image/png\r\n\r\n`), file, Buffer.from('\r\n'));
  });
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

/** A PNG that declares `width`×`height` (header patched; its data is an 8×8 image). */
function pngDeclaring(width: number, height: number): Buffer {
  const png = Buffer.from(pngOf(8, 8, () => 0));
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  return png;
}

/** The first bytes of a baseline JPEG that declares `width`×`height`, then noise. */
function jpegDeclaring(width: number, height: number): Buffer {
  const app0 = [0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00];
  const sof0 = [0xff, 0xc0, 0x00, 0x11, 0x08, height >> 8, height & 255, width >> 8, width & 255, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01];
  return Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.from(app0), Buffer.from(sof0), Buffer.alloc(600, 0x5a)]);
}

async function metric(server: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { connection: 'close' } })).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

describe('images are refused from their headers, before decoding', () => {
  test.each([
    ['a PNG declaring 4096×4096 (16.8 MP)', pngDeclaring(4096, 4096), 'image/png', /4096×4096 pixels; the limit is 8192 px a side and 4 megapixels/],
    ['a JPEG declaring 4800×4800 (23 MP, a 710 KB file in the issue)', jpegDeclaring(4800, 4800), 'image/jpeg', /4800×4800 pixels/],
    ['a PNG declaring 2001×2000 (just over 4 MP)', pngDeclaring(2001, 2000), 'image/png', /2001×2000/],
  ])('%s is a 413', async (_name, bytes, type, message) => {
    const server = started[0] ?? (await serve());
    expectShape(await request(server, 'POST', '/v1/predict', { 'content-type': type }, bytes), 413, message);
  });

  test('the same limit holds for each file of a multipart', async () => {
    const server = started[0] ?? (await serve());
    const form = multipart([pngOf(40, 40, sevenOnPaper(40, 40)), pngDeclaring(4096, 4096)]);
    expectShape(await request(server, 'POST', '/v1/predict', { 'content-type': form.type }, form.body), 413, /file "f1.png" is 4096×4096/);
  });
});

describe('one body limit for the whole request, whatever its encoding', () => {
  test('17 files in one multipart are a 413 (at most 16)', async () => {
    const server = started[0] ?? (await serve());
    const png = pngOf(30, 30, sevenOnPaper(30, 30));
    const form = multipart(Array.from({ length: 17 }, () => png));
    expectShape(await request(server, 'POST', '/v1/predict', { 'content-type': form.type }, form.body), 413, /at most 16 files/);
  });

  test('three 600 KB files (each under the 1 MiB limit, 1.8 MB together) are a 413, declared or chunked', async () => {
    const server = started[0] ?? (await serve());
    const file = Buffer.concat([pngOf(30, 30, sevenOnPaper(30, 30)), Buffer.alloc(600_000, 1)]);
    const form = multipart([file, file, file]);
    // With Content-Length: refused from the header
    expectShape(await request(server, 'POST', '/v1/predict', { 'content-type': form.type }, form.body), 413, /larger than the 1 MiB limit/);
    // Chunked (no length declared): refused once the count passes the limit
    const chunked = await request(server, 'POST', '/v1/predict', { 'content-type': form.type, 'transfer-encoding': 'chunked' }, form.body);
    expectShape(chunked, 413, /larger than the 1 MiB limit/);
  });

  test('--max-batch holds for multipart files as for JSON images: with 2, three or 16 files are a 413, two are answered', async () => {
    const server = await serve({ maxBatch: 2 });
    const png = pngOf(30, 30, sevenOnPaper(30, 30));
    for (const count of [3, 16]) {
      const form = multipart(Array.from({ length: count }, () => png));
      expectShape(await request(server, 'POST', '/v1/predict', { 'content-type': form.type }, form.body), 413, /^more than 2 images in one request; the limit is 2$/);
    }
    const two = multipart([png, png]);
    const answered = await request(server, 'POST', '/v1/predict', { 'content-type': two.type }, two.body);
    expect(answered.status, answered.text).toBe(200);
    expect(answered.json.predictions).toHaveLength(2);
    // the JSON path says the same, with the count it read
    expectShape(await request(server, 'POST', '/v1/predict', { 'content-type': 'application/json' }, JSON.stringify({ images: [oneAsPixels(), oneAsPixels(), oneAsPixels()] })), 413, /^3 images in one request; the limit is 2$/);
    const model = await request(server, 'GET', '/v1/model');
    expect(model.json.limits).toMatchObject({ maxImagesPerRequest: 2, maxFilesPerRequest: 2 });
  });

  test('a declared length over the limit is refused before the body is sent', async () => {
    const server = started[0] ?? (await serve());
    const answer = await raw(server, `POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000000\r\n\r\n`);
    expectShape(parseRaw(answer), 413, /larger than the 1 MiB limit/);
  });
});

describe('overload: queued work is bounded, and the HTTP thread stays free', () => {
  test('while 16 four-megapixel PNGs decode, /healthz and /metrics answer before the upload does', async () => {
    const server = await serve({ maxBatch: 64 });
    // Decoding bombs: 2000×2000 of zeros compress to 15 KB each and inflate to 16 MB of RGBA.
    const bomb = pngOf(2000, 2000, () => 0);
    const form = multipart(Array.from({ length: 16 }, () => bomb));
    let uploadDone = false;
    const upload = request(server, 'POST', '/v1/predict', { 'content-type': form.type }, form.body).then((a) => {
      uploadDone = true;
      return a;
    });
    // When the files are waiting for the decoders…
    for (let i = 0; i < 500 && !((await metric(server, 'digits_decode_queue_files')) > 0); i++) await new Promise((r) => setTimeout(r, 10));
    // …the server still answers
    const health = await request(server, 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(uploadDone).toBe(false);
    // and the upload gets its own answer (the bombs are blank: a 400 naming the first)
    expectShape(await upload, 400, /is blank/);
  }, 120_000);

  test('a second large upload while the decode queue is full is a 503 with a hint; small images still pass', async () => {
    const server = await serve({ decode: { workers: 1, maxQueuedPixels: 4_000_000 } });
    const big = pngOf(2000, 2000, () => 0);
    const first = multipart([big, big, big, big]);
    const pending = request(server, 'POST', '/v1/predict', { 'content-type': first.type }, first.body);
    for (let i = 0; i < 500 && !((await metric(server, 'digits_decode_queue_pixels')) > 0); i++) await new Promise((r) => setTimeout(r, 10));
    const second = await request(server, 'POST', '/v1/predict', { 'content-type': first.type }, first.body);
    expectShape(second, 503, /busy decoding images/);
    // a small image is not refused by the large-image bound
    const small = await request(server, 'POST', '/v1/predict', { 'content-type': 'image/png' }, pngOf(60, 60, sevenOnPaper(60, 60)));
    expect(small.status, small.text).toBe(200);
    expect((await pending).status).toBe(400);
  }, 120_000);

  test('after a burst the decoder processes exit (/metrics says 0), and the next upload starts them and gets the same answer', async () => {
    // Given a server whose decoders exit after 300 ms idle, and a pad-sized PNG and a 900×900 one
    const server = await serve({ decode: { idleMs: 300 } });
    const form = multipart([pngOf(280, 280, sevenOnPaper(280, 280)), pngOf(900, 900, sevenOnPaper(900, 900))]);
    const first = await request(server, 'POST', '/v1/predict', { 'content-type': form.type }, form.body);
    expect(first.status, first.text).toBe(200);
    expect(await metric(server, 'digits_decode_files_total')).toBe(2);
    // When nothing comes for the idle timeout
    for (let i = 0; i < 400 && (await metric(server, 'digits_decoders_running')) > 0; i++) await new Promise((r) => setTimeout(r, 25));
    // Then none runs, and the same upload is answered as before
    expect(await metric(server, 'digits_decoders_running')).toBe(0);
    const second = await request(server, 'POST', '/v1/predict', { 'content-type': form.type }, form.body);
    expect(second.status, second.text).toBe(200);
    const { timing: _first, ...firstAnswer } = first.json;
    const { timing: _second, ...secondAnswer } = second.json;
    expect(secondAnswer).toEqual(firstAnswer);
    expect(await metric(server, 'digits_decode_files_total')).toBe(4);
  }, 120_000);

  test('uploads being received are bounded in bytes: one stalled chunked upload holds the limit, the next is a 503', async () => {
    const server = await serve({ maxBodyBytesInFlight: 1.5 * 1024 * 1024 });
    // Given an upload of undeclared length that stalls mid-body
    const stalled = net.connect(server.port, '127.0.0.1');
    stalled.write('POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n--x\r\n\r\n');
    try {
      for (let i = 0; i < 200 && server.inFlight() < 1; i++) await new Promise((r) => setTimeout(r, 10));
      // When another upload of 600 KB arrives
      const form = multipart([Buffer.concat([pngOf(30, 30, sevenOnPaper(30, 30)), Buffer.alloc(600_000, 1)])]);
      // Then it is turned away at once, in our shape; a small JSON request still passes
      expectShape(await request(server, 'POST', '/v1/predict', { 'content-type': form.type }, form.body), 503, /receiving too many uploads/);
      expect((await request(server, 'GET', '/healthz')).status).toBe(200);
    } finally {
      stalled.destroy();
    }
  });
});

describe('a slow body cannot hold the upload budget', () => {
  test('a chunked upload trickling a byte at a time ends with a 408 once past the grace, and its share of the budget is free again', async () => {
    const server = await serve({ maxBodyBytesInFlight: 1.5 * 1024 * 1024, slowBodyGraceMs: 300 });
    const padded = JSON.stringify({ images: [oneAsPixels()] }) + ' '.repeat(600_000);
    // Given a chunked JSON upload (it reserves the whole 1 MiB limit) that sends one byte every 100 ms
    const slow = net.connect(server.port, '127.0.0.1');
    const received: Buffer[] = [];
    slow.on('data', (c: Buffer) => received.push(c));
    slow.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => slow.on('close', () => resolve()));
    slow.write('POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n');
    const trickle = setInterval(() => slow.writable && slow.write('1\r\n \r\n'), 100);
    try {
      for (let i = 0; i < 200 && server.inFlight() < 1; i++) await new Promise((r) => setTimeout(r, 10));
      // (while it holds the limit, a 600 KB upload does not fit)
      const refused = await request(server, 'POST', '/v1/predict', { 'content-type': 'application/json' }, padded);
      // When it stays under 16 KiB/s past the 0.3 s grace, Then it gets a 408 in our shape and its connection closes
      await closed;
      const answer = parseRaw(Buffer.concat(received).toString('latin1'));
      expectShape(answer, 408, /^the request body arrived too slowly \(\d+ bytes in [\d.]+ s\)$/);
      // and the same 600 KB upload now fits (refused before only if it came while the budget was held)
      expect([200, 503]).toContain(refused.status);
      expect((await request(server, 'POST', '/v1/predict', { 'content-type': 'application/json' }, padded)).status).toBe(200);
      expect(await metric(server, 'digits_http_body_bytes_in_flight')).toBe(0);
    } finally {
      clearInterval(trickle);
      slow.destroy();
    }
  }, 60_000);

  test('a body sent at a normal pace is not cut, however long the grace', async () => {
    // Given a tiny grace, When a large body is sent in one go, Then it is answered
    const server = await serve({ slowBodyGraceMs: 20 });
    const padded = JSON.stringify({ images: [oneAsPixels()] }) + ' '.repeat(900_000);
    expect((await request(server, 'POST', '/v1/predict', { 'content-type': 'application/json' }, padded)).status).toBe(200);
  });
});

describe("every error in our {error, hint} shape, Fastify's and Node's own included", () => {
  test.each([
    ['an unknown route (404)', 'GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 404, /no route GET \/nowhere/],
    ['a wrong method (405)', 'GET /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 405, /does not take GET/],
    ['POST to /healthz (405)', 'POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 405, /does not take POST/],
    ['a malformed URL', 'GET /v1/%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 400, /URL could not be read/],
    ['a malformed request line', 'HELLO THERE\r\n\r\n', 400, /could not be parsed as HTTP/],
    ['headers too large (431)', `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, /request line and headers are too large/],
    // (a 20 KB URL overflows the same limit: the hint named only the headers)
    ['URL too long (431)', `GET /healthz?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 431, /request line and headers are too large/],
    ['an unsupported content type (415)', 'POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi', 415, /unsupported content type/],
    ['an HTTP/1.1 request without Host (Node answered a bare 400)', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', 400, /^the request has no Host header \(HTTP\/1\.1 requires one\)$/],
    ['a POST with no body and no Content-Type (was a 415 "has a body")', 'POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 400, /^the request has no body$/],
    ['a correction with no body and no Content-Type', 'POST /v1/corrections HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', 400, /^the request has no body$/],
    ['a body without a Content-Type (415)', 'POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi', 415, /^the request has a body but no Content-Type$/],
  ])('%s', async (_name, bytes, status, message) => {
    const server = started[0] ?? (await serve());
    expectShape(parseRaw(await raw(server, bytes)), status, message);
  });
});

describe('bodies as sent: no content encoding, no unknown keys, and errors that read right', () => {
  const json = { 'content-type': 'application/json' };

  test('a gzip body is a 415 naming the encoding, on /v1/predict and /v1/corrections', async () => {
    const server = started[0] ?? (await serve());
    const compressed = { ...json, 'content-encoding': 'gzip' };
    expectShape(await request(server, 'POST', '/v1/predict', compressed, gzipSync(JSON.stringify({ images: [oneAsPixels()] }))), 415, /^unsupported content encoding "gzip"$/);
    expectShape(await request(server, 'POST', '/v1/corrections', compressed, gzipSync(JSON.stringify({ image: oneAsPixels(), label: 1 }))), 415, /^unsupported content encoding "gzip"$/);
    // identity is no encoding
    expect((await request(server, 'POST', '/v1/predict', { ...json, 'content-encoding': 'identity' }, JSON.stringify({ images: [oneAsPixels()] }))).status).toBe(200);
  });

  test('a correction with an unknown key is a 400 naming it, as a prediction is; nothing is saved', async () => {
    const file = path.join(root, 'unknown-keys.jsonl');
    const server = await serve({ correctionsFile: file });
    for (const [key, value] of [['extra', 1], ['time', '1999'], ['v', 2]] as const) {
      const body = JSON.stringify({ image: oneAsPixels(), label: 1, predicted: 7, [key]: value });
      expectShape(await request(server, 'POST', '/v1/corrections', json, body), 400, new RegExp(`^unknown JSON option "${key}"$`));
    }
    await expect(readFile(file, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    // what the pad sends is saved
    expect((await request(server, 'POST', '/v1/corrections', json, JSON.stringify({ image: oneAsPixels(), label: 1, predicted: 7 }))).status).toBe(201);
  });

  test('a deeply nested body is a fast 400 naming the nesting, before JSON.parse; brackets inside strings do not count', async () => {
    const server = started[0] ?? (await serve());
    // Given bodies nesting 400,000 levels deep (under the 1 MiB limit; 30,000 under the corrections' 64 KiB), on both JSON routes
    const deep = (key: string, levels: number) => `{"${key}":${'['.repeat(levels)}${']'.repeat(levels)}}`;
    // When they are posted, Then each is a 400 saying the JSON nests too deep
    expectShape(await request(server, 'POST', '/v1/predict', json, deep('images', 400_000)), 400, /^the JSON body nests deeper than 8 levels of arrays and objects$/);
    expectShape(await request(server, 'POST', '/v1/corrections', json, deep('image', 30_000)), 400, /^the JSON body nests deeper than 8 levels/);
    // and brackets inside a string are text, not nesting
    expectShape(await request(server, 'POST', '/v1/predict', json, JSON.stringify({ images: '[[[[[[[[[[[[\\"' })), 400, /^images is the string "\[\[\[/);
    expect((await request(server, 'GET', '/healthz')).status).toBe(200);
  });

  test.each([
    ['images as an object', '/v1/predict', { images: { a: 1 } }, /^images is an object; it must be an array of images$/],
    ['images as a boolean', '/v1/predict', { images: true }, /^images is true; it must be an array of images$/],
    ['an image as an object', '/v1/predict', { images: [{}] }, /^images\[0\] is an object, not an array of 784 pixel values$/],
    ['a correction without its image', '/v1/corrections', { label: 1 }, /^image is missing, not an array of 784 pixel values$/],
    ['a pixel as an object', '/v1/corrections', { image: [{}, ...oneAsPixels().slice(1)], label: 1 }, /^image\[0\] is an object, not a number$/],
  ])('%s: the error names it in words ("an object", "missing")', async (_name, route, body, message) => {
    const server = started[0] ?? (await serve());
    expectShape(await request(server, 'POST', route, json, JSON.stringify(body)), 400, message);
  });
});

describe('shutdown waits for the requests in flight, and names what it had to cut', () => {
  test('20 large requests in flight when closing are all answered; the report says 20 finished, none cut', async () => {
    // (a long batching window and room for all: the requests are certainly waiting when close() comes)
    const server = await serve({ maxBatch: 2048, batchWindowMs: 5000 });
    const images = Array.from({ length: 64 }, () => oneAsPixels());
    const body = JSON.stringify({ images, tta: true });
    // kept-alive connections, as a load balancer or a browser holds them
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const requests = Array.from({ length: 20 }, () => request(server, 'POST', '/v1/predict', { 'content-type': 'application/json' }, body, agent));
    for (let i = 0; i < 1000 && server.inFlight() < 20; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.inFlight()).toBe(20);
    const report = await server.close({ graceMs: 60_000 });
    const answers = await Promise.all(requests);
    expect(answers.map((a) => a.status)).toEqual(new Array(20).fill(200));
    expect(answers.every((a) => (a.json.predictions as unknown[]).length === 64)).toBe(true);
    expect(report).toEqual({ finished: 20, cut: [] });
    agent.destroy();
  }, 120_000);

  test('a request still in flight at the end of the grace period is cut, logged and reported', async () => {
    const lines: string[] = [];
    const server = await serve({ log: (line) => lines.push(line) });
    const stalled = net.connect(server.port, '127.0.0.1');
    stalled.on('error', () => undefined);
    stalled.write('POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 5000\r\n\r\n--x\r\n');
    for (let i = 0; i < 200 && server.inFlight() < 1; i++) await new Promise((r) => setTimeout(r, 10));
    const report = await server.close({ graceMs: 300 });
    expect(report.finished).toBe(0);
    expect(report.cut).toHaveLength(1);
    expect(report.cut[0]).toMatchObject({ method: 'POST', url: '/v1/predict' });
    expect(lines.join('\n')).toMatch(/cut POST \/v1\/predict after [\d.]+ s: the 0.3 s grace period ended/);
    stalled.destroy();
  });

  test('a request arriving on a kept-alive connection while closing gets our 503', async () => {
    const server = await serve({ batchWindowMs: 500 });
    const body = JSON.stringify({ images: [oneAsPixels()] });
    const one = `POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    // Given a kept-alive connection with a prediction waiting in the batcher
    const socket = net.connect(server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((r) => socket.on('close', r));
    socket.write(one);
    for (let i = 0; i < 200 && server.inFlight() < 1; i++) await new Promise((r) => setTimeout(r, 10));
    // When closing starts and a second request comes on that connection
    const closed = server.close({ graceMs: 5000 });
    socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await closed;
    await ended;
    // Then the first is answered and the second gets our 503, and the connection ends
    const text = Buffer.concat(chunks).toString('latin1');
    const second = text.slice(text.lastIndexOf('HTTP/1.1 '));
    expect(text.startsWith('HTTP/1.1 200')).toBe(true);
    expectShape(parseRaw(second), 503, /shutting down/);
  });
});

describe('corrections: size cap, rate limit, Host/Origin, token, a writable store', () => {
  const correction = JSON.stringify({ image: oneAsPixels(), label: 1, predicted: 7 });
  const json = { 'content-type': 'application/json' };

  test('a record over 64 KiB is a 413', async () => {
    const server = started[0] ?? (await serve());
    const padded = JSON.stringify({ image: oneAsPixels().map((v) => v + 0.000000000001), label: 1, pad: 'x'.repeat(70_000) });
    expectShape(await request(server, 'POST', '/v1/corrections', json, padded), 413, /larger than 64 KiB/);
  });

  test('one client gets at most N saves a minute, then a 429 with Retry-After', async () => {
    const server = await serve({ correctionsPerMinute: 3, correctionsFile: path.join(root, 'rate', 'c.jsonl') });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(server, 'POST', '/v1/corrections', json, correction)).status);
    expect(statuses).toEqual([201, 201, 201]);
    const refused = await request(server, 'POST', '/v1/corrections', json, correction);
    expectShape(refused, 429, /at most 3 a minute/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect((await readFile(path.join(root, 'rate', 'c.jsonl'), 'utf8')).trimEnd().split('\n')).toHaveLength(3);
  });

  test('wrong tokens count against the rate limit: a guesser gets 429s, another client under its limit saves with the right token', async () => {
    const server = await serve({ correctionsPerMinute: 3, token: 'secret-token-123', correctionsFile: path.join(root, 'guess.jsonl') });
    const wrong = { ...json, authorization: 'Bearer wrong-token-xx' };
    const right = { ...json, authorization: 'Bearer secret-token-123' };
    const statuses = async (headers: Record<string, string>, times: number, agent?: http.Agent) => {
      const seen = [];
      for (let i = 0; i < times; i++) seen.push((await request(server, 'POST', '/v1/corrections', headers, correction, agent)).status);
      return seen;
    };
    // Given a client (127.0.0.1) that has tried two wrong tokens, the right one still saves: 3 attempts, the limit
    expect([...(await statuses(wrong, 2)), ...(await statuses(right, 1))]).toEqual([401, 401, 201]);
    // When it keeps guessing, every further attempt is a 429, the right token included
    expect(await statuses(wrong, 3)).toEqual([429, 429, 429]);
    const refused = await request(server, 'POST', '/v1/corrections', right, correction);
    expectShape(refused, 429, /at most 3 a minute/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Then another client address (127.0.0.2, also loopback) has its own count and saves
    const elsewhere = new http.Agent({ localAddress: '127.0.0.2' });
    try {
      expect(await statuses(right, 1, elsewhere)).toEqual([201]);
    } finally {
      elsewhere.destroy();
    }
    expect((await readFile(path.join(root, 'guess.jsonl'), 'utf8')).trimEnd().split('\n')).toHaveLength(2);
  });

  test('a page on an --allowed-origin preflights and reads the answers of predict and corrections; other origins get no CORS headers', async () => {
    const page = 'http://other.lan:9000';
    const server = await serve({ allowedOrigins: [page], token: 'secret-token-123', correctionsFile: path.join(root, 'cors.jsonl') });
    const ask = { 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' };
    for (const route of ['/v1/corrections', '/v1/predict']) {
      // Given the browser's preflight from the allowed page
      const preflight = await request(server, 'OPTIONS', route, { origin: page, ...ask });
      expect(preflight.status, `${route}: ${preflight.text}`).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe(page);
      expect(preflight.headers['access-control-allow-methods']).toMatch(/\bPOST\b/);
      expect(preflight.headers['access-control-allow-headers']?.toLowerCase()).toMatch(/content-type.*authorization/);
      expect(preflight.headers.vary).toMatch(/\bOrigin\b/);
      expect(Number(preflight.headers['access-control-max-age'])).toBeGreaterThan(0);
      // and from a page elsewhere: refused, with nothing a browser would accept
      const foreign = await request(server, 'OPTIONS', route, { origin: 'http://attacker.example', ...ask });
      expectShape(foreign, 403, /cross-origin requests are not accepted from the origin "http:\/\/attacker.example"/);
      expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
      expect(foreign.headers.vary).toMatch(/\bOrigin\b/);
    }
    // When the allowed page predicts and saves, its browser may read the answers (errors included)
    const predicted = await request(server, 'POST', '/v1/predict', { ...json, origin: page }, JSON.stringify({ images: [oneAsPixels()] }));
    expect(predicted.status, predicted.text).toBe(200);
    expect(predicted.headers['access-control-allow-origin']).toBe(page);
    expect(predicted.headers.vary).toMatch(/\bOrigin\b/);
    const saved = await request(server, 'POST', '/v1/corrections', { ...json, origin: page, authorization: 'Bearer secret-token-123' }, correction);
    expect(saved.status, saved.text).toBe(201);
    expect(saved.headers['access-control-allow-origin']).toBe(page);
    expect(saved.headers.vary).toMatch(/\bOrigin\b/);
    const unauthorised = await request(server, 'POST', '/v1/corrections', { ...json, origin: page }, correction);
    expectShape(unauthorised, 401, /needs the server's token/);
    expect(unauthorised.headers['access-control-allow-origin']).toBe(page);
    // Then a page elsewhere is answered (predictions are not guarded) but its browser may not read it
    const foreignPredict = await request(server, 'POST', '/v1/predict', { ...json, origin: 'http://attacker.example' }, JSON.stringify({ images: [oneAsPixels()] }));
    expect(foreignPredict.status).toBe(200);
    expect(foreignPredict.headers['access-control-allow-origin']).toBeUndefined();
    // (a plain OPTIONS, not a preflight, says what the route takes)
    const plain = await request(server, 'OPTIONS', '/v1/corrections');
    expect(plain.status).toBe(204);
    expect(plain.headers.allow).toBe('OPTIONS, POST');
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
  });

  test('Host and Origin: loopback names, the same origin and --allowed-origin pass; a rebinding name or a foreign page does not', async () => {
    const server = await serve({ allowedOrigins: ['http://digits.lan:8080'], correctionsFile: path.join(root, 'origin.jsonl') });
    const port = server.port;
    const cases: Array<[Record<string, string>, number]> = [
      [{ host: `127.0.0.1:${port}` }, 201],
      [{ host: `localhost:${port}` }, 201],
      [{ host: `[::1]:${port}` }, 201],
      [{ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` }, 201],
      [{ host: 'digits.lan:8080', origin: 'http://digits.lan:8080' }, 201],
      [{ host: `attacker.example:${port}` }, 403],
      [{ host: `127.0.0.1:${port}`, origin: 'http://attacker.example' }, 403],
      [{ host: `127.0.0.1:${port}`, origin: 'null' }, 403],
    ];
    for (const [headers, status] of cases) {
      const answer = await request(server, 'POST', '/v1/corrections', { ...json, ...headers }, correction);
      expect(answer.status, `${JSON.stringify(headers)}: ${answer.text}`).toBe(status);
      if (status === 403) expectShape(answer, 403, /writes are not accepted/);
    }
    // predictions (reads) are not affected
    expect((await request(server, 'POST', '/v1/predict', { ...json, host: 'attacker.example' }, JSON.stringify({ images: [oneAsPixels()] }))).status).toBe(200);
  });

  test('with a token, a save needs Authorization: Bearer <token>', async () => {
    const server = await serve({ token: 'correct-horse-battery', correctionsFile: path.join(root, 'token.jsonl') });
    expectShape(await request(server, 'POST', '/v1/corrections', json, correction), 401, /needs the server's token/);
    expectShape(await request(server, 'POST', '/v1/corrections', { ...json, authorization: 'Bearer wrong-token-here' }, correction), 401, /token is wrong/);
    const saved = await request(server, 'POST', '/v1/corrections', { ...json, authorization: 'Bearer correct-horse-battery' }, correction);
    expect(saved.status, saved.text).toBe(201);
    expect(saved.json.file).toBe('token.jsonl');
    expect(saved.text).not.toContain(root);
  });

  test('a run folder renamed under the server: a correction is a 500 naming it, and no stray folder appears', async () => {
    // Given a server over a run folder of its own, which is then renamed
    const moving = await makeRun(root, [{ name: 'm1', preset: 'mlp', seed: 5 }], 'moving');
    const ensemble = await loadServedEnsemble(moving, { infer: 'onnx', workers: 0, threads: 1 });
    const server = await startServer({ ensemble, port: 0, batchWindowMs: 2, log: () => undefined });
    started.push(server);
    await rename(moving, `${moving}-renamed`);
    // When a correction is posted
    const answer = await request(server, 'POST', '/v1/corrections', { 'content-type': 'application/json' }, JSON.stringify({ image: oneAsPixels(), label: 1, predicted: 7 }));
    // Then it is a 500 saying the run folder is gone, and neither folder gained a corrections store
    // (the folder served, not the name its run.json records: a copied run's message named the original)
    expectShape(answer, 500, new RegExp(`^the correction could not be saved: the run folder ${path.join(path.basename(root), 'moving')} is gone`));
    await expect(readdir(moving)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(`${moving}-renamed`)).not.toContain('corrections.jsonl');
  });

  test('start-up refuses: listening beyond loopback without a token, and a folder as the store', async () => {
    const ensemble = () => loadServedEnsemble(runDir, { infer: 'onnx', workers: 0, threads: 1 });
    const wide = await startServer({ ensemble: await ensemble(), port: 0, host: '0.0.0.0' }).catch((e: unknown) => e);
    expect(wide).toBeInstanceOf(UserError);
    expect((wide as UserError).message).toMatch(/listening on 0\.0\.0\.0 .* needs a token/);
    expect((wide as UserError).where).toEqual({ flag: 'token' });
    const folder = path.join(root, 'a-folder');
    await mkdir(folder);
    const store = await startServer({ ensemble: await ensemble(), port: 0, correctionsFile: folder }).catch((e: unknown) => e);
    expect(store).toBeInstanceOf(UserError);
    expect((store as UserError).message).toMatch(/the corrections store .*a-folder is a folder/);
    expect((store as UserError).where?.flag).toBe('corrections');
  });
});

describe('the model card names no absolute path', () => {
  test('/v1/model says why an unevaluated run has no scores, naming no absolute path; a damaged evaluation is refused, as submit refuses it', async () => {
    const server = started[0] ?? (await serve());
    const model = await request(server, 'GET', '/v1/model');
    expect(model.json.ensemble).toEqual({ voting: 'soft', validation: null, note: 'this run has not been evaluated (digits evaluate --run run)' });
    expect(model.text).not.toContain(root);
    const damaged = await makeRun(root, [{ name: 'm1', preset: 'mlp', seed: 5 }], 'damaged');
    await writeFile(path.join(damaged, 'evaluation.json'), JSON.stringify({ format: 'something-else' }));
    // (it was served as "not evaluated": without the weights and the TTA decision it held)
    await expect(loadServedEnsemble(damaged, { infer: 'onnx', workers: 0, threads: 1 })).rejects.toMatchObject({ message: expect.stringMatching(/evaluation\.json is not a digits evaluation/), where: { file: path.join(damaged, 'evaluation.json') } });
    await writeFile(path.join(damaged, 'evaluation.json'), '{"x":\n');
    await expect(loadServedEnsemble(damaged, { infer: 'onnx', workers: 0, threads: 1 })).rejects.toMatchObject({ where: { file: path.join(damaged, 'evaluation.json'), line: 2, column: 1 } });
  });
});

describe('logs and metrics through the libraries', () => {
  test("request logs go through Fastify's logger (pino JSON lines) when asked", async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const server = await serve({ logger: { level: 'info', stream } });
    await request(server, 'GET', '/healthz');
    const records = lines.map((l) => JSON.parse(l) as { msg?: string; req?: { url?: string }; res?: { statusCode?: number } });
    expect(records.some((r) => r.req?.url === '/healthz')).toBe(true);
    expect(records.some((r) => r.res?.statusCode === 200)).toBe(true);
  });

  test("/metrics carries prom-client's default process metrics beside ours", async () => {
    const server = started[0] ?? (await serve());
    expect(await metric(server, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(Number.isFinite(await metric(server, 'digits_http_requests_in_flight'))).toBe(true);
  });
});
