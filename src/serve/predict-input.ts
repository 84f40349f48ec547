/**
 * A `POST /v1/predict` request read into images and options: a JSON body, a PNG/JPEG body or
 * multipart files (each file's size checked from its header, then decoded in the decode pool),
 * with the options from the body or the query (flags, member names, unknown keys), checked into
 * 4xx answers that say what to send instead. Parsing of one image's pixels is in
 * image-input.ts; server.ts routes the request.
 */
import type { FastifyRequest } from 'fastify';
import type { DecodePool } from './decode-pool.js';
import type { ServedEnsemble } from './ensemble.js';
import { assertNotBlank, InputError, PIXELS, SIDE, describeValue, readImageHeader, readPixelArray, toBytes } from './image-input.js';
import { applyOrientation } from '../data/orientation.js';

export const PREDICT_HINT = 'POST JSON {"images": [[784 values 0–255 or 0–1]]} (each image upright, row by row, as MNIST; "layout": "competition" for rows as the competition\'s CSV holds them), or a PNG/JPEG as the body (Content-Type image/png or image/jpeg) or as multipart files.';

/**
 * JSON images are upright digits, row by row, light strokes on a dark ground (MNIST's layout and
 * polarity, as the members were trained). A competition's CSV may store them otherwise (the practice ones
 * transposed), which its import detected and undid: `"layout": "competition"` asks for the same.
 * Posting CSV rows as stored scored 14 of 100 (session 41's probe).
 */
export const LAYOUT_HINT = 'Use "layout": "upright" (the default: each image upright, row by row) or "competition" (rows as the competition\'s CSV holds them; GET /v1/model says how this run\'s import turned them).';

export function isTrue(value: unknown, what: string): boolean {
  if (value === undefined) return false;
  if (typeof value === 'boolean') return value;
  // (1 and 0 as JSON numbers too: the message below offered them, and refused them)
  if (value === 'true' || value === '1' || value === '' || value === 1) return true;
  if (value === 'false' || value === '0' || value === 0) return false;
  throw new InputError(400, `${what} is ${JSON.stringify(value)}; it must be true or false (or 1 or 0)`, 'Use tta=true or tta=false.', 'bad_option');
}

/**
 * `ServedEnsemble` members by name → indices, for a request's `members` option. Under k-fold a
 * recipe's name stands for all its fold members, whose probabilities the vote then averages as
 * the submission does (until session 44 it was "there is no member").
 */
export function memberIndices(ensemble: ServedEnsemble, value: unknown): number[] | undefined {
  // An empty `members=` names no member, as `"members": []` does (it meant all of them).
  if (value === undefined || value === null) return undefined;
  const names = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : null;
  if (!names || names.some((n) => typeof n !== 'string')) {
    throw new InputError(400, 'members must be a list of member names', 'Use members=a,b in the query or "members": ["a", "b"] in JSON.', 'bad_option');
  }
  const available = ensemble.members.map((m) => m.name);
  const recipes = [...new Set(ensemble.members.flatMap((m) => (m.recipe !== undefined ? [m.recipe] : [])))];
  const listed = `Members: ${available.join(', ')}${recipes.length ? `; recipes (each all its fold members): ${recipes.join(', ')}` : ''}`;
  const indices: number[] = [];
  for (const raw of names as string[]) {
    const name = raw.trim();
    if (name === '' && typeof value === 'string') continue; // `members=` or `a,,b`: no name there
    const index = available.indexOf(name);
    const chosen = index >= 0 ? [index] : ensemble.members.flatMap((m, i) => (m.recipe === name ? [i] : []));
    if (chosen.length === 0) {
      // A member that failed to train is not served: said so, with why, rather than unknown.
      const skipped = ensemble.skipped.find((s) => s.name === name);
      if (skipped) throw new InputError(400, `member ${JSON.stringify(name)} is not served: ${skipped.reason}`, `${listed} (GET /v1/model lists them).`, 'unknown_member');
      throw new InputError(400, `there is no member ${JSON.stringify(name)} in this ensemble`, `${listed} (GET /v1/model lists them).`, 'unknown_member');
    }
    for (const i of chosen) if (!indices.includes(i)) indices.push(i);
  }
  if (indices.length === 0) throw new InputError(400, 'members names no member', `${listed}.`, 'unknown_member');
  return indices;
}

export function rejectUnknownKeys(object: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw new InputError(400, `unknown ${where} option ${JSON.stringify(key)}`, `Allowed: ${allowed.join(', ')}.`, 'unknown_option');
  }
}

export interface ParsedPredict {
  images: Float32Array;
  count: number;
  tta: boolean;
  members?: number[];
  /** the 28×28 digits made from uploaded files (0–255), to show what the members saw */
  inputs: number[][] | null;
}

/** The request's media type, lower case, without parameters ('' when it has none). */
export function contentTypeOf(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

export function unsupportedType(request: FastifyRequest, hint: string): InputError {
  const type = request.headers['content-type'];
  if (type) return new InputError(415, `unsupported content type ${JSON.stringify(type)}`, hint, 'unsupported_media_type');
  // No Content-Type and no body at all (no length, or 0, and not chunked): it was called a body without a type.
  const length = request.headers['content-length'];
  if ((length === undefined || Number(length) === 0) && request.headers['transfer-encoding'] === undefined) return new InputError(400, 'the request has no body', hint, 'empty_body');
  return new InputError(415, 'the request has a body but no Content-Type', hint, 'unsupported_media_type');
}

/** What one prediction request may hold. */
export interface PredictLimits {
  /** most images in one request (JSON images or files) */
  maxBatch: number;
  /** most files in one multipart request (--max-files, itself held to maxBatch) */
  filesPerRequest: number;
  /** largest body in bytes, whatever its encoding */
  bodyLimit: number;
}

/** The 413 of a body over the limit: [error, hint, kind]. */
export function bodyTooLarge(limits: PredictLimits): [string, string, string] {
  const mb = (limits.bodyLimit / (1024 * 1024)).toFixed(limits.bodyLimit % (1024 * 1024) ? 1 : 0);
  return [`the request body is larger than the ${mb} MiB limit`, `Send fewer images per request (at most ${limits.filesPerRequest} files or ${limits.maxBatch} JSON images), or smaller files.`, 'body_too_large'];
}

function tooManyImages(count: string, maxBatch: number): InputError {
  return new InputError(413, `${count} images in one request; the limit is ${maxBatch}`, `Split them into requests of at most ${maxBatch} images.`, 'too_many_images');
}

/** An option in the body that the query gives too: refused, not one of them dropped in silence. */
function onlyOnce(query: Record<string, unknown>, key: string, value: unknown): unknown {
  if (query[key] !== undefined) {
    throw new InputError(400, `${key} is given both in the query and in the body`, `Give ${key} once: in the query (?${key}=…) or in the body.`, 'bad_option');
  }
  return value;
}

/** The most bytes a multipart field (tta, members) may have: busboy's `fieldSize`, set where the server registers @fastify/multipart. */
export const MAX_FIELD_BYTES = 4096;

/** A flag given more than once (`?tta=true&tta=false`, or two tta form fields): refused, not one of them taken in silence. */
function given(value: unknown, key: string, where: string): unknown {
  if (Array.isArray(value)) {
    throw new InputError(400, `${key} is given ${value.length} times in the ${where}`, `Give ${key} once (${key}=true or ${key}=false).`, 'bad_option');
  }
  return value;
}

/**
 * `members` given more than once in the query or the form: the union of the names, as one
 * comma-separated list (`members=a&members=b,c` is `members=a,b,c`).
 */
function allMembers(values: unknown): unknown {
  if (!Array.isArray(values)) return values;
  return values.every((v) => typeof v === 'string') ? values.join(',') : values.length === 1 ? values[0] : values;
}

/** Reads a prediction request's images and options; throws an InputError (4xx) for anything the client should change. */
export async function readPredictRequest(request: FastifyRequest, ensemble: ServedEnsemble, decodePool: DecodePool, limits: PredictLimits): Promise<ParsedPredict> {
  const { maxBatch, bodyLimit } = limits;
  const query = (request.query ?? {}) as Record<string, unknown>;
  rejectUnknownKeys(query, ['tta', 'members'], 'query');
  // (not given: as the run's submission uses it, `ServedEnsemble.tta`)
  const asked = given(query.tta, 'tta', 'query');
  let tta = asked === undefined ? ensemble.tta.default : isTrue(asked, 'tta');
  let members = memberIndices(ensemble, allMembers(query.members));
  const type = contentTypeOf(request);
  if (type === 'application/json') {
    const body = request.body as unknown;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new InputError(400, 'the body must be a JSON object {images: [...]}', PREDICT_HINT, 'bad_body');
    }
    const object = body as Record<string, unknown>;
    rejectUnknownKeys(object, ['images', 'tta', 'members', 'layout'], 'JSON');
    const layout = object.layout ?? 'upright';
    if (layout !== 'upright' && layout !== 'competition') {
      throw new InputError(400, `layout is ${describeValue(layout)}; it must be "upright" or "competition"`, LAYOUT_HINT, 'bad_option');
    }
    // ("tta": null is the run's default, as leaving it out is: it meant false)
    if (object.tta !== undefined && object.tta !== null) tta = isTrue(onlyOnce(query, 'tta', object.tta), 'tta');
    if (object.members !== undefined) members = memberIndices(ensemble, onlyOnce(query, 'members', object.members));
    const list = object.images;
    if (!Array.isArray(list)) throw new InputError(400, `images is ${describeValue(list)}; it must be an array of images`, PREDICT_HINT, 'bad_body');
    if (list.length === 0) throw new InputError(400, 'images is empty', 'Send at least one image.', 'no_images');
    if (typeof list[0] === 'number') {
      throw new InputError(400, 'images is a flat list of numbers; it must be a list of images', `Wrap a single image in a list: {"images": [[${PIXELS} values]]}.`, 'bad_body');
    }
    if (list.length > maxBatch) throw tooManyImages(String(list.length), maxBatch);
    const images = new Float32Array(list.length * PIXELS);
    list.forEach((image, i) => readPixelArray(image, images, i * PIXELS, `images[${i}]`));
    list.forEach((_, i) => assertNotBlank(images, i * PIXELS, `images[${i}]`, 'Send the pixels of a digit: a blank image has nothing to read, and its label would be a guess.'));
    // (rows as the competition's CSV holds them: turned as its import turned them)
    const upright = layout === 'competition' && ensemble.orientation !== 'as-is' ? applyOrientation(images, SIDE, ensemble.orientation) : images;
    return { images: upright, count: list.length, tta, members, inputs: null };
  }
  const files: Array<{ bytes: Uint8Array; what: string; pixels: number }> = [];
  // Each file's declared size is checked from its header before anything is decoded.
  const addFile = (bytes: Uint8Array, what: string) => {
    const header = readImageHeader(bytes, what);
    files.push({ bytes, what, pixels: header.width * header.height });
  };
  if (type === 'image/png' || type === 'image/jpeg' || type === 'image/jpg') {
    addFile(request.body as Buffer, 'the uploaded image');
  } else if (request.isMultipart()) {
    // The body limit holds for the whole multipart body, not per file: bytes are counted as they stream.
    let total = 0;
    // Fields as the query has them: a repeated tta is refused, repeated members are one list (read after the loop).
    const fields: { tta: unknown[]; members: unknown[] } = { tta: [], members: [] };
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          // --max-batch holds for files as for JSON images: refused at the first file over it, before reading that file.
          if (files.length >= maxBatch) throw tooManyImages(`more than ${maxBatch}`, maxBatch);
          const chunks: Buffer[] = [];
          for await (const chunk of part.file) {
            total += (chunk as Buffer).length;
            if (total > bodyLimit) throw new InputError(413, ...bodyTooLarge(limits));
            chunks.push(chunk as Buffer);
          }
          if (part.file.truncated) throw new InputError(413, ...bodyTooLarge(limits));
          addFile(Buffer.concat(chunks), `file ${JSON.stringify(part.filename ?? part.fieldname)}`);
        } else if (part.fieldname === 'tta' || part.fieldname === 'members') {
          // busboy cuts a field at fieldSize and says so only in this flag: the cut value was used.
          if (part.valueTruncated) {
            throw new InputError(413, `form field ${part.fieldname} is longer than ${MAX_FIELD_BYTES} bytes`, part.fieldname === 'members' ? 'Name fewer members (GET /v1/model lists them), or give members in the query.' : 'Send tta=true or tta=false.', 'field_too_large');
          }
          fields[part.fieldname].push(part.value);
        } else {
          throw new InputError(400, `unknown form field ${JSON.stringify(part.fieldname)}`, 'Send image files, and optionally the fields tta and members.', 'unknown_option');
        }
      }
    } catch (error) {
      if (error instanceof InputError || (error as { statusCode?: number }).statusCode) throw error;
      throw new InputError(400, `the multipart body could not be read: ${(error as Error).message}`, 'Send a well-formed multipart/form-data body (curl -F file=@digit.png).', 'bad_multipart');
    }
    if (fields.tta.length > 0) tta = isTrue(onlyOnce(query, 'tta', given(fields.tta.length === 1 ? fields.tta[0] : fields.tta, 'tta', 'form')), 'tta');
    if (fields.members.length > 0) members = memberIndices(ensemble, onlyOnce(query, 'members', allMembers(fields.members)));
    if (files.length === 0) throw new InputError(400, 'the multipart body holds no file', 'Attach the image as a file part (curl -F file=@digit.png).', 'no_images');
  } else {
    throw unsupportedType(request, PREDICT_HINT);
  }
  const digits = await decodePool.decodeAll(files);
  const images = new Float32Array(files.length * PIXELS);
  const inputs: number[][] = [];
  digits.forEach((digit, i) => {
    images.set(digit, i * PIXELS);
    inputs.push(toBytes(digit));
  });
  return { images, count: files.length, tta, members, inputs };
}
