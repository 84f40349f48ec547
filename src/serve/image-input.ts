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

function pngHeader(bytes: Uint8Array, what: string): ImageHeader {
  // IHDR is the first chunk: length(4) "IHDR"(4) width(4) height(4), big-endian.
  if (bytes.length < 33 || String.fromCharCode(bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!) !== 'IHDR') throw corrupt(what, 'no PNG header chunk');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { format: 'png', width: view.getUint32(16), height: view.getUint32(20) };
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

function decodePng(bytes: Uint8Array, what: string): RgbaImage {
  try {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, data: png.data };
  } catch (error) {
    // pngjs says of a file cut short "There are some read requests waitng on finished stream".
    const message = (error as Error).message;
    throw corrupt(what, /read requests wait/i.test(message) ? 'the PNG ends before its image data does (truncated)' : message);
  }
}

function decodeJpeg(bytes: Uint8Array, what: string): RgbaImage {
  try {
    const image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 256 });
    if (!image.width || !image.height) throw new Error('no pixels');
    return { width: image.width, height: image.height, data: image.data };
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    if (/maxResolutionInMP|maxMemoryUsageInMB/.test(message)) throw tooLarge(what, NaN, NaN);
    throw corrupt(what, message);
  }
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
