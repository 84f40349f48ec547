/**
 * What a client sends, turned into what the members take: 28×28 row-major floats in [0,1],
 * white ink on black, upright.
 *
 * - Pixel arrays (`{images: number[][]}`): 784 finite numbers each, 0–255 or [0,1], decided
 *   per image (an image whose largest value is above 1 is 0–255).
 * - PNG and JPEG files of any size: decoded, made grey, and normalised the way MNIST was
 *   (LeCun et al.: "the images were centered in a 28x28 image by computing the center of
 *   mass of the pixels"): invert when the background is light, crop to the ink's bounding
 *   box, scale the longer side to 20 px keeping the aspect ratio (area averaging, so thin
 *   strokes of a large drawing stay grey instead of vanishing), and paste into 28×28 so the
 *   centre of mass sits at the centre.
 *
 * Everything a client can get wrong is an `InputError` (HTTP 4xx with a hint); nothing here
 * trusts a size or a length it has not checked.
 */
import { inflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;
/** MNIST's digits fit a 20×20 box inside the 28×28 field. */
export const BOX = 20;

/** A request the client can fix: HTTP status, what was wrong, and what to try. */
export class InputError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string,
    /** short machine name, used as a metrics label */
    readonly kind: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

/* ---------- pixel arrays ---------- */

/**
 * Checks one image given as a JSON array and writes it, in [0,1], into `out` at `offset`.
 * `what` names it in errors (e.g. `images[3]`).
 */
export function readPixelArray(value: unknown, out: Float32Array, offset: number, what: string): void {
  if (!Array.isArray(value)) {
    throw new InputError(400, `${what} is ${describeValue(value)}, not an array of ${PIXELS} pixel values`, `Send each image as ${PIXELS} numbers (28×28, row-major), 0–255 or 0–1.`, 'not_array');
  }
  if (value.length !== PIXELS) {
    throw new InputError(400, `${what} has ${value.length} value${value.length === 1 ? '' : 's'}; an image has ${PIXELS} (28×28)`, 'Resize to 28×28 and flatten row by row, or upload a PNG/JPEG of any size instead.', 'bad_length');
  }
  let max = 0;
  for (let i = 0; i < PIXELS; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new InputError(400, `${what}[${i}] is ${describeValue(v)}, not a number`, 'Every pixel must be a finite number, 0–255 or 0–1.', 'not_number');
    }
    if (v < 0 || v > 255) {
      throw new InputError(400, `${what}[${i}] is ${v}, outside 0–255`, 'Pixels are 0–255 (integers as in the CSVs) or 0–1 (floats).', 'out_of_range');
    }
    if (v > max) max = v;
    out[offset + i] = v;
  }
  // Per image: any value above 1 means the 0–255 scale.
  if (max > 1) for (let i = 0; i < PIXELS; i++) out[offset + i]! /= 255;
}

/**
 * A 400 when an image read by `readPixelArray` is blank: no pixel stands 0.1 (of the 0–1 scale)
 * apart from the others, so there is no stroke to read. Uploads are refused so when no stroke
 * stands out; corrections and JSON predictions are refused by this (a blank JSON image got a
 * label until session 42).
 */
export function assertNotBlank(pixels: Float32Array, offset: number, what: string, hint: string): void {
  let low = Infinity;
  let high = -Infinity;
  for (let i = offset; i < offset + PIXELS; i++) {
    const v = pixels[i]!;
    if (v < low) low = v;
    if (v > high) high = v;
  }
  if (high - low < 0.1) throw new InputError(400, `${what} is blank: no strokes stand out from the background`, hint, 'blank_image');
}

/** A JSON value as an error names it: "missing", "null", "an object", "an array of 3", "true", "the string …". */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/* ---------- decoding ---------- */

export type ImageFormat = 'png' | 'jpeg';

/**
 * Limits on a decoded image, checked from its header before any pixel is decoded (a 16 KB
 * PNG can declare 4096×4096 and inflate to 64 MB of RGBA; a photo of a digit needs far less
 * than 4 megapixels).
 */
export const MAX_IMAGE_SIDE = 8192;
export const MAX_IMAGE_PIXELS = 4_000_000;

/** The format from the file's first bytes (the content type is only a claim). */
export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47 && bytes[4] === 0x0d && bytes[5] === 0x0a && bytes[6] === 0x1a && bytes[7] === 0x0a) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/** An RGBA image, 8 bits per channel. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

function corrupt(what: string, detail: string): InputError {
  return new InputError(400, `${what} could not be decoded: ${detail}`, 'Send an intact PNG or JPEG file (re-export it, or check the upload is not truncated).', 'corrupt_image');
}

function tooLarge(what: string, width: number, height: number): InputError {
  return new InputError(
    413,
    `${what} is ${Number.isNaN(width) ? 'too large' : `${width}×${height} pixels`}; the limit is ${MAX_IMAGE_SIDE} px a side and ${MAX_IMAGE_PIXELS / 1e6} megapixels`,
    'Scale the image down (a digit needs no more than a few hundred pixels a side).',
    'image_too_large',
  );
}

/** What an image file declares about itself, read from its header without decoding. */
export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

/** Bit depths each PNG colour type allows (PNG spec, 11.2.2 IHDR). */
const PNG_DEPTHS: Record<number, readonly number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** Samples per pixel of each PNG colour type. */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function pngHeader(bytes: Uint8Array, what: string): ImageHeader {
  // IHDR is the first chunk: length(4) "IHDR"(4) width(4) height(4) depth colourType
  // compression filter interlace (1 each), big-endian. Its fields are checked here, on the
  // HTTP thread, for they cost nothing: pngjs's synchronous reader answered a bad one with
  // "unrecognised content at end of stream", whatever it was.
  if (bytes.length < 33 || String.fromCharCode(bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!) !== 'IHDR') throw corrupt(what, 'no PNG header chunk');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(8) !== 13) throw corrupt(what, `its IHDR chunk is ${view.getUint32(8)} bytes long; the PNG spec says 13`);
  const [depth, colourType, compression, filter, interlace] = [bytes[24]!, bytes[25]!, bytes[26]!, bytes[27]!, bytes[28]!];
  const depths = PNG_DEPTHS[colourType];
  if (!depths) throw corrupt(what, `colour type ${colourType} is not a PNG colour type (0, 2, 3, 4 or 6)`);
  if (!depths.includes(depth)) throw corrupt(what, `bit depth ${depth} is not allowed with colour type ${colourType} (allowed: ${depths.join(', ')})`);
  if (compression !== 0) throw corrupt(what, `compression method ${compression} is not a PNG compression method (only 0)`);
  if (filter !== 0) throw corrupt(what, `filter method ${filter} is not a PNG filter method (only 0)`);
  if (interlace > 1) throw corrupt(what, `interlace method ${interlace} is not a PNG interlace method (0 or 1)`);
  return { format: 'png', width: view.getUint32(16), height: view.getUint32(20) };
}

/** CRC-32 as PNG chunks carry it (ISO 3309, the zlib/PNG polynomial), over type and data. */
const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();
function crc32(bytes: Uint8Array, from: number, to: number): number {
  let c = -1;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** What the chunk walk of a PNG found: its image data, and where its IEND chunk ends. */
interface PngLayout {
  width: number;
  height: number;
  depth: number;
  colourType: number;
  interlaced: boolean;
  idat: Uint8Array[];
  end: number;
}

/**
 * A PNG's structure, checked before pngjs sees it: chunks whole and their CRCs right, IHDR
 * first, a PLTE before the image data of a palette image, at least one IDAT, and IEND. Bytes
 * after IEND are ignored (as browsers do). pngjs's synchronous reader hid these mistakes
 * ("unrecognised content at end of stream" for a bad CRC) or read uninitialised memory (no
 * IDAT at all: "Unrecognised filter type - 144").
 */
function pngLayout(bytes: Uint8Array, what: string): PngLayout {
  const { width, height } = pngHeader(bytes, what);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const layout: PngLayout = { width, height, depth: bytes[24]!, colourType: bytes[25]!, interlaced: bytes[28] === 1, idat: [], end: -1 };
  let palette = false;
  let afterIdat = false;
  for (let at = 8; ; ) {
    if (at + 12 > bytes.length) {
      // (cut at a chunk's end after image data: the image data may be whole, only IEND is missing)
      const dataWhole = layout.idat.length > 0 && (afterIdat || at === bytes.length);
      throw corrupt(what, dataWhole ? 'the PNG ends before its IEND chunk (truncated)' : 'the PNG ends before its image data does (truncated)');
    }
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (!/^[A-Za-z]{4}$/.test(type)) throw corrupt(what, `no PNG chunk at byte ${at} (its type is not four letters)`);
    if (length > 0x7fffffff) throw corrupt(what, `its ${type} chunk at byte ${at} declares ${length} bytes, beyond the PNG limit of 2^31 − 1`);
    if (at + 12 + length > bytes.length) {
      throw corrupt(what, type === 'IDAT' || layout.idat.length === 0 ? 'the PNG ends before its image data does (truncated)' : `the PNG ends inside its ${type} chunk (truncated)`);
    }
    if (crc32(bytes, at + 4, at + 8 + length) !== view.getUint32(at + 8 + length)) {
      throw corrupt(what, `the CRC of its ${type} chunk at byte ${at} does not match its contents (the file is damaged)`);
    }
    if (at === 8 ? type !== 'IHDR' : type === 'IHDR') throw corrupt(what, at === 8 ? `its first chunk is ${type}, not IHDR` : 'it has a second IHDR chunk');
    if (type === 'PLTE') palette = true;
    if (type === 'IDAT') {
      if (afterIdat) throw corrupt(what, `its IDAT chunks are not consecutive (another chunk at byte ${at} comes between them)`);
      if (layout.colourType === 3 && !palette) throw corrupt(what, 'it is a palette image (colour type 3) without a PLTE chunk before its image data');
      layout.idat.push(bytes.subarray(at + 8, at + 8 + length));
    } else if (layout.idat.length > 0) afterIdat = true;
    at += 12 + length;
    if (type === 'IEND') {
      if (layout.idat.length === 0) throw corrupt(what, 'it has no image data (no IDAT chunk before IEND)');
      layout.end = at;
      return layout;
    }
  }
}

/** Adam7's passes: first column, first row, column step, row step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/** The scanlines of a PNG's inflated image data: [byte count of a row without its filter byte, rows], one entry per (interlace) pass. */
function pngScanlines(layout: PngLayout): Array<[number, number]> {
  const bits = PNG_CHANNELS[layout.colourType]! * layout.depth;
  const rowBytes = (pixels: number) => Math.ceil((pixels * bits) / 8);
  if (!layout.interlaced) return [[rowBytes(layout.width), layout.height]];
  return ADAM7.map(([x0, y0, dx, dy]): [number, number] => [rowBytes(Math.ceil((layout.width - x0) / dx)), Math.ceil((layout.height - y0) / dy)]).filter(([row, rows]) => row > 0 && rows > 0);
}

/**
 * The IDAT data inflated and measured against what the header declares (pngjs's synchronous
 * reader takes a short stream and reads uninitialised bytes, and called a long one truncated),
 * and every row's filter type checked. Inflating costs a few ms of a 50–140 ms decode.
 */
function checkPngImageData(layout: PngLayout, what: string): void {
  const lines = pngScanlines(layout);
  const expected = lines.reduce((sum, [row, rows]) => sum + (row + 1) * rows, 0);
  const size = `${layout.width}×${layout.height}`;
  let data: Buffer;
  try {
    data = inflateSync(Buffer.concat(layout.idat), { maxOutputLength: expected });
  } catch (error) {
    const e = error as Error & { code?: string };
    if (e.code === 'ERR_BUFFER_TOO_LARGE') throw corrupt(what, `its image data (IDAT) inflates to more than the ${expected} bytes its ${size} pixels take`);
    if (e.code === 'Z_BUF_ERROR') throw corrupt(what, 'its image data (IDAT) ends before its compressed stream does');
    throw corrupt(what, `its image data (IDAT) is not valid zlib data (${e.message})`);
  }
  if (data.length < expected) throw corrupt(what, `its image data (IDAT) inflates to ${data.length} bytes; its ${size} pixels take ${expected}`);
  let at = 0;
  for (const [row, rows] of lines) {
    for (let y = 0; y < rows; y++, at += row + 1) {
      if (data[at]! > 4) throw corrupt(what, `a row of its image data has filter type ${data[at]} (PNG has 0–4)`);
    }
  }
}

/**
 * A JPEG's size from its first start-of-frame segment (SOF0–SOF15 but DHT C4, JPG C8 and
 * DAC CC): FF Cn, length(2), precision(1), height(2), width(2). Segments before it are
 * skipped by their length; fill bytes (FF FF) are allowed between segments.
 */
function jpegHeader(bytes: Uint8Array, what: string): ImageHeader {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw corrupt(what, `no JPEG segment marker at byte ${at}`);
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    // Markers without a length: TEM and RST0–7 (SOI too, which may not repeat here).
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break; // EOI or start of scan before any frame header
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (length < 2) throw corrupt(what, `a JPEG segment of length ${length} at byte ${at}`);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (at + 9 > bytes.length) break;
      const height = (bytes[at + 5]! << 8) | bytes[at + 6]!;
      const width = (bytes[at + 7]! << 8) | bytes[at + 8]!;
      return { format: 'jpeg', width, height };
    }
    at += 2 + length;
  }
  throw corrupt(what, 'no JPEG frame header (SOF) before the image data');
}

/**
 * The format and declared size of a PNG or JPEG (by its bytes, whatever it was labelled),
 * checked against the limits: nothing is decoded, so this is cheap enough for the HTTP thread.
 */
export function readImageHeader(bytes: Uint8Array, what = 'the image'): ImageHeader {
  if (bytes.length === 0) throw new InputError(400, `${what} is empty (0 bytes)`, 'Upload the image file itself.', 'empty_body');
  const format = sniffFormat(bytes);
  if (format === null) {
    throw new InputError(415, `${what} is neither a PNG nor a JPEG (its first bytes do not match either)`, 'Upload a .png or .jpg file, or send pixel arrays as JSON {"images": [[784 values]]}.', 'not_an_image');
  }
  const header = format === 'png' ? pngHeader(bytes, what) : jpegHeader(bytes, what);
  const { width, height } = header;
  if (width === 0 || height === 0) throw corrupt(what, `it is ${width}×${height} pixels`);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) throw tooLarge(what, width, height);
  return header;
}

/** A decoder's own exception (a TypeError on inconsistent data, say) named as what it means for the client. */
function notValid(what: string, format: 'PNG' | 'JPEG', error: unknown): InputError {
  const internal = error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || !(error instanceof Error);
  const message = error instanceof Error ? error.message : String(error);
  const reason = internal || message === '' ? 'its data is inconsistent (the decoder could not follow it)' : message.length > 120 ? `${message.slice(0, 120)}…` : message;
  return corrupt(what, `not a valid ${format}: ${reason}`);
}

function decodePng(bytes: Uint8Array, what: string): RgbaImage {
  const layout = pngLayout(bytes, what);
  checkPngImageData(layout, what);
  try {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, layout.end));
    return { width: png.width, height: png.height, data: png.data };
  } catch (error) {
    throw notValid(what, 'PNG', error);
  }
}

function decodeJpeg(bytes: Uint8Array, what: string): RgbaImage {
  try {
    const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 256 });
    if (!image.width || !image.height) throw new Error('no pixels');
    return { width: image.width, height: image.height, data: image.data };
  } catch (error) {
    const message = (error as Error | undefined)?.message ?? String(error);
    if (/maxResolutionInMP|maxMemoryUsageInMB/.test(message)) throw tooLarge(what, NaN, NaN);
    // A file cut short is the likeliest cause; jpeg-js calls it e.g. "unknown JPEG marker 0".
    if (!hasJpegEnd(bytes)) throw corrupt(what, 'the JPEG ends before its end-of-image marker (truncated)');
    throw notValid(what, 'JPEG', error);
  }
}

/** Whether a JPEG's last bytes hold its end-of-image marker (FF D9; a few bytes of padding after it are common). */
function hasJpegEnd(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 2; i >= Math.max(2, bytes.length - 64); i--) if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return true;
  return false;
}

/** Decodes a PNG or JPEG (by its bytes, whatever it was labelled) to RGBA. */
export function decodeImage(bytes: Uint8Array, what = 'the image'): RgbaImage {
  const { format } = readImageHeader(bytes, what);
  return format === 'png' ? decodePng(bytes, what) : decodeJpeg(bytes, what);
}

/* ---------- MNIST normalisation ---------- */

/**
 * Grey levels in [0,1] (ink bright on dark, as MNIST), one per pixel, from RGBA. A
 * transparent background (canvas exports, icons) is composited over the colour that
 * contrasts with the ink, so ink on transparency reads as ink either way.
 */
export function toInkGrey(image: RgbaImage): Float32Array {
  const { width, height, data } = image;
  const n = width * height;
  const lum = new Float32Array(n);
  let translucent = false;
  let inkSum = 0;
  let inkWeight = 0;
  for (let i = 0; i < n; i++) {
    const r = data[4 * i]!;
    const g = data[4 * i + 1]!;
    const b = data[4 * i + 2]!;
    const a = data[4 * i + 3]! / 255;
    const y = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    lum[i] = y;
    if (a < 0.98) translucent = true;
    inkSum += y * a;
    inkWeight += a;
  }
  if (translucent) {
    // The visible (opaque) pixels are the drawing: dark ink goes on white, light ink on black.
    const backdrop = inkWeight > 0 && inkSum / inkWeight < 0.5 ? 1 : 0;
    for (let i = 0; i < n; i++) {
      const a = data[4 * i + 3]! / 255;
      lum[i] = a * lum[i]! + (1 - a) * backdrop;
    }
  }
  // Light background (paper, a white canvas): invert so ink is bright. The background is
  // judged from the image's border, which a centred digit rarely touches.
  const border = borderMedian(lum, width, height);
  if (border > 0.5) for (let i = 0; i < n; i++) lum[i] = 1 - lum[i]!;
  return lum;
}

function borderMedian(values: Float32Array, width: number, height: number): number {
  const samples: number[] = [];
  const stepX = Math.max(1, Math.floor(width / 64));
  const stepY = Math.max(1, Math.floor(height / 64));
  for (let x = 0; x < width; x += stepX) samples.push(values[x]!, values[(height - 1) * width + x]!);
  for (let y = 0; y < height; y += stepY) samples.push(values[y * width]!, values[y * width + width - 1]!);
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

/** One output sample's sources and weights along one axis. */
type Taps = Array<{ index: number[]; weight: number[] }>;

/**
 * Resampling weights from `from` source samples to `to` output samples: area averaging when
 * shrinking (every source sample counts, by how much of it the output sample covers),
 * linear interpolation when enlarging.
 */
function taps(from: number, to: number): Taps {
  const scale = from / to;
  const out: Taps = [];
  for (let o = 0; o < to; o++) {
    const index: number[] = [];
    const weight: number[] = [];
    if (scale >= 1) {
      const start = o * scale;
      const end = start + scale;
      for (let s = Math.floor(start); s < Math.min(from, Math.ceil(end)); s++) {
        const overlap = Math.min(end, s + 1) - Math.max(start, s);
        if (overlap > 1e-9) {
          index.push(s);
          weight.push(overlap / scale);
        }
      }
    } else {
      const centre = Math.min(from - 1, Math.max(0, (o + 0.5) * scale - 0.5));
      const left = Math.floor(centre);
      const right = Math.min(from - 1, left + 1);
      const t = centre - left;
      index.push(left, right);
      weight.push(1 - t, t);
    }
    out.push({ index, weight });
  }
  return out;
}

/** Resizes a `width`×`height` grey image to `toWidth`×`toHeight` (separable: rows, then columns). */
export function resizeGrey(src: Float32Array, width: number, height: number, toWidth: number, toHeight: number): Float32Array {
  const across = taps(width, toWidth);
  const down = taps(height, toHeight);
  const rows = new Float32Array(toWidth * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < toWidth; x++) {
      const { index, weight } = across[x]!;
      let sum = 0;
      for (let k = 0; k < index.length; k++) sum += src[y * width + index[k]!]! * weight[k]!;
      rows[y * toWidth + x] = sum;
    }
  }
  const out = new Float32Array(toWidth * toHeight);
  for (let y = 0; y < toHeight; y++) {
    const { index, weight } = down[y]!;
    for (let x = 0; x < toWidth; x++) {
      let sum = 0;
      for (let k = 0; k < index.length; k++) sum += rows[index[k]! * toWidth + x]! * weight[k]!;
      out[y * toWidth + x] = sum;
    }
  }
  return out;
}

/**
 * Ink grey levels (bright ink on dark, any size) → a 28×28 MNIST-style digit in [0,1].
 * Background haze (paper, JPEG noise) is removed first: levels are stretched so the border's
 * median is 0 and the brightest ink is 1, and what stays under 0.1 is set to 0.
 * Returns null when there is no ink.
 */
export function centreLikeMnist(grey: Float32Array, width: number, height: number): Float32Array | null {
  const background = borderMedian(grey, width, height);
  let peak = 0;
  for (let i = 0; i < grey.length; i++) if (grey[i]! > peak) peak = grey[i]!;
  if (peak - background < 0.05) return null;
  const ink = new Float32Array(grey.length);
  const span = peak - background;
  let left = width;
  let right = -1;
  let top = height;
  let bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      let v = (grey[i]! - background) / span;
      v = v < 0.1 ? 0 : Math.min(1, v);
      ink[i] = v;
      if (v > 0) {
        if (x < left) left = x;
        if (x > right) right = x;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
      }
    }
  }
  if (right < 0) return null;
  // Crop to the bounding box.
  const boxWidth = right - left + 1;
  const boxHeight = bottom - top + 1;
  const crop = new Float32Array(boxWidth * boxHeight);
  for (let y = 0; y < boxHeight; y++) crop.set(ink.subarray((top + y) * width + left, (top + y) * width + left + boxWidth), y * boxWidth);
  // The longer side becomes 20 px; the shorter keeps the aspect ratio (at least 1 px).
  const scale = BOX / Math.max(boxWidth, boxHeight);
  const toWidth = Math.max(1, Math.min(BOX, Math.round(boxWidth * scale)));
  const toHeight = Math.max(1, Math.min(BOX, Math.round(boxHeight * scale)));
  const digit = resizeGrey(crop, boxWidth, boxHeight, toWidth, toHeight);
  // Centre of mass (pixel centres at +0.5), moved to the centre of the 28×28 field.
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < toHeight; y++) {
    for (let x = 0; x < toWidth; x++) {
      const v = digit[y * toWidth + x]!;
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  const offsetX = Math.round(SIDE / 2 - (mass > 0 ? mx / mass : toWidth / 2));
  const offsetY = Math.round(SIDE / 2 - (mass > 0 ? my / mass : toHeight / 2));
  const out = new Float32Array(PIXELS);
  for (let y = 0; y < toHeight; y++) {
    const oy = y + offsetY;
    if (oy < 0 || oy >= SIDE) continue;
    for (let x = 0; x < toWidth; x++) {
      const ox = x + offsetX;
      if (ox < 0 || ox >= SIDE) continue;
      out[oy * SIDE + ox] = Math.min(1, Math.max(0, digit[y * toWidth + x]!));
    }
  }
  return out;
}

/** A PNG or JPEG file → the 28×28 digit the members see. */
export function imageFileToDigit(bytes: Uint8Array, what = 'the image'): Float32Array {
  const rgba = decodeImage(bytes, what);
  const digit = centreLikeMnist(toInkGrey(rgba), rgba.width, rgba.height);
  if (!digit) throw new InputError(400, `${what} is blank: no strokes stand out from the background`, 'Draw or photograph a digit with clear contrast to its background.', 'blank_image');
  return digit;
}

/** [0,1] floats → 0–255 integers (how corrections are stored and how the pad shows what the model saw). */
export function toBytes(image: Float32Array): number[] {
  return Array.from(image, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
}
