/**
 * Turning what clients send into MNIST-like 28×28 digits: pixel arrays (both scales, every
 * way to get them wrong) and PNG/JPEG files of any size (inverted, cropped, scaled to a
 * 20-px box, centred by mass), and refusing corrupt or oversized files before decoding.
 */
import { crc32, deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { describe, expect, test } from 'vitest';
import { BOX, InputError, PIXELS, SIDE, centreLikeMnist, decodeImage, imageFileToDigit, readPixelArray, resizeGrey, sniffFormat, toInkGrey } from '../../src/serve/image-input.js';
import { pngOf, sevenOnPaper } from './helpers.js';

function inkBox(image: Float32Array): { left: number; right: number; top: number; bottom: number } {
  let left = SIDE;
  let right = -1;
  let top = SIDE;
  let bottom = -1;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      if (image[y * SIDE + x]! > 0) {
        left = Math.min(left, x);
        right = Math.max(right, x);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
  }
  return { left, right, top, bottom };
}

function centreOfMass(image: Float32Array): { x: number; y: number } {
  let mass = 0;
  let x = 0;
  let y = 0;
  for (let i = 0; i < PIXELS; i++) {
    const v = image[i]!;
    mass += v;
    x += v * ((i % SIDE) + 0.5);
    y += v * (Math.floor(i / SIDE) + 0.5);
  }
  return { x: x / mass, y: y / mass };
}

/** A PNG's chunks, as [type, data]. */
type Chunk = [string, Buffer];
function chunksOf(png: Buffer): Chunk[] {
  const chunks: Chunk[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    chunks.push([png.toString('latin1', at + 4, at + 8), png.subarray(at + 8, at + 8 + length)]);
    at += 12 + length;
  }
  return chunks;
}
/** A PNG made of these chunks, each with its right CRC (so only what the test changed is wrong). */
function pngFrom(chunks: Chunk[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])];
  for (const [type, data] of chunks) {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0);
    parts.push(head, data, crc);
  }
  return Buffer.concat(parts);
}
/** A valid 20×20 RGBA PNG with a stroke, its IHDR field at `offset` (8 depth, 9 colour type, 10 compression, 11 filter, 12 interlace) set to `value`. */
function withIhdr(offset: number, value: number): Buffer {
  const chunks = chunksOf(pngOf(20, 20, (x) => (x > 8 && x < 12 ? 0 : 255)));
  const ihdr = Buffer.from(chunks[0]![1]);
  ihdr[offset] = value;
  return pngFrom([['IHDR', ihdr], ...chunks.slice(1)]);
}
/** A valid 20×20 PNG whose IDAT chunks are replaced by `idat` (none when null). */
function withIdat(idat: Buffer | null): Buffer {
  const chunks = chunksOf(pngOf(20, 20, (x) => (x > 8 && x < 12 ? 0 : 255)));
  return pngFrom([chunks[0]!, ...(idat ? [['IDAT', idat] as Chunk] : []), ['IEND', Buffer.alloc(0)]]);
}

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected an InputError');
}

describe('pixel arrays', () => {
  test('0–255 and [0,1] images are detected per image by their largest value', () => {
    // Given one image in 0–255 and one in [0,1] with the same picture
    const bytes = Array.from({ length: PIXELS }, (_, i) => (i % 7) * 40);
    const floats = bytes.map((v) => v / 255);
    const out = new Float32Array(2 * PIXELS);
    // When both are read
    readPixelArray(bytes, out, 0, 'a');
    readPixelArray(floats, out, PIXELS, 'b');
    // Then both end in [0,1] and agree
    for (let i = 0; i < PIXELS; i++) expect(out[i]).toBeCloseTo(out[PIXELS + i]!, 6);
    expect(Math.max(...out)).toBeCloseTo(240 / 255, 6);
  });

  test.each([
    ['not an array', 'hello', /not an array/],
    ['too short', [1, 2, 3], /has 3 values; an image has 784/],
    ['too long', new Array(785).fill(0), /has 785 values/],
    ['a string pixel', [...new Array(783).fill(0), '7'], /\[783\] is the string "7", not a number/],
    ['a null pixel', [null, ...new Array(783).fill(0)], /\[0\] is null/],
    ['a negative pixel', [-1, ...new Array(783).fill(0)], /-1, outside 0–255/],
    ['a pixel above 255', [256, ...new Array(783).fill(0)], /256, outside 0–255/],
    ['a nested array', [[1], ...new Array(783).fill(0)], /an array of 1, not a number/],
  ])('%s is a 400 naming the image and pixel', (_name, value, message) => {
    const error = inputError(() => readPixelArray(value, new Float32Array(PIXELS), 0, 'images[2]'));
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/images\[2\]/);
    expect(error.message).toMatch(message);
    expect(error.hint).toBeTruthy();
  });
});

describe('files the MNIST way', () => {
  test('a large dark-on-light PNG becomes bright ink, its longer side 20 px, its centre of mass at the centre', () => {
    // Given a 300×450 photo-like "7": dark strokes on light paper
    const png = pngOf(300, 450, sevenOnPaper(300, 450));
    // When it is turned into a digit
    const digit = imageFileToDigit(png);
    // Then the ink is bright on black, fills a 20-px box along its longer side…
    const box = inkBox(digit);
    const height = box.bottom - box.top + 1;
    const width = box.right - box.left + 1;
    expect(Math.max(width, height)).toBe(BOX);
    // …keeping the aspect ratio of the ink (taller than wide here)…
    expect(height).toBeGreaterThan(width);
    // …and is centred by mass within half a pixel
    const com = centreOfMass(digit);
    expect(Math.abs(com.x - 14)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(com.y - 14)).toBeLessThanOrEqual(0.5);
    // the background is exactly 0, as in MNIST
    expect(digit[0]).toBe(0);
    expect(digit[PIXELS - 1]).toBe(0);
  });

  test('white ink on black and dark ink on transparency (canvas exports) read the same as dark ink on white', () => {
    const draw = sevenOnPaper(120, 120);
    const onPaper = imageFileToDigit(pngOf(120, 120, draw));
    const inverted = imageFileToDigit(pngOf(120, 120, (x, y) => 255 - draw(x, y)));
    // transparent background, opaque black strokes
    const transparent = imageFileToDigit(pngOf(120, 120, () => 0, (x, y) => (draw(x, y) < 128 ? 255 : 0)));
    for (let i = 0; i < PIXELS; i++) {
      expect(inverted[i]).toBeCloseTo(onPaper[i]!, 5);
      expect(transparent[i]).toBeCloseTo(onPaper[i]!, 5);
    }
  });

  test('a tiny image is enlarged to the 20-px box; a JPEG decodes like the PNG', () => {
    const draw = sevenOnPaper(14, 14);
    const small = imageFileToDigit(pngOf(14, 14, draw));
    const box = inkBox(small);
    expect(Math.max(box.right - box.left + 1, box.bottom - box.top + 1)).toBe(BOX);
    // JPEG of the same large drawing: close to the PNG result (lossy, so a loose bound)
    const grey = sevenOnPaper(200, 200);
    const rgba = Buffer.alloc(200 * 200 * 4);
    for (let i = 0; i < 200 * 200; i++) rgba.fill(grey(i % 200, Math.floor(i / 200)), 4 * i, 4 * i + 3), (rgba[4 * i + 3] = 255);
    const jpg = jpeg.encode({ data: rgba, width: 200, height: 200 }, 95).data;
    expect(sniffFormat(jpg)).toBe('jpeg');
    const fromJpeg = imageFileToDigit(jpg);
    const fromPng = imageFileToDigit(pngOf(200, 200, grey));
    let diff = 0;
    for (let i = 0; i < PIXELS; i++) diff += Math.abs(fromJpeg[i]! - fromPng[i]!);
    expect(diff / PIXELS).toBeLessThan(0.05);
  });

  test('area averaging keeps thin strokes: a 1-px line in a 400-px image survives as grey', () => {
    const src = new Float32Array(400 * 400);
    for (let y = 50; y < 350; y++) src[y * 400 + 200] = 1;
    const small = resizeGrey(src, 400, 400, 20, 20);
    expect(Math.max(...small)).toBeGreaterThan(0.04);
    // total ink is preserved (up to the scale factor)
    const sum = small.reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(300 / 400 ** 2 * 400, 1);
  });

  test.each([
    ['empty', Buffer.alloc(0), 400, /empty/],
    ['not an image', Buffer.from('GIF89a-not-supported'), 415, /neither a PNG nor a JPEG/],
    ['a truncated PNG', pngOf(64, 64, () => 0).subarray(0, 60), 400, /could not be decoded/],
    ['a PNG missing only its last bytes', (() => { const png = pngOf(64, 64, (x, y) => ((x + y) % 7) * 30); return png.subarray(0, png.length - 30); })(), 400, /could not be decoded: the PNG ends before its image data does \(truncated\)$/],
    ['a PNG with a broken body', Buffer.concat([pngOf(64, 64, () => 0).subarray(0, 41), Buffer.alloc(80, 7)]), 400, /could not be decoded/],
    ['a JPEG of noise', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(300, 0x5a)]), 400, /could not be decoded/],
    ['a blank PNG', pngOf(50, 50, () => 255), 400, /blank/],
  ])('%s is refused with %i', (_name, bytes, status, message) => {
    const error = inputError(() => imageFileToDigit(bytes));
    expect(error.status).toBe(status);
    expect(error.message).toMatch(message);
  });

  // The rows of the 20×20 RGBA test image: 20 × (1 filter byte + 80 bytes).
  const ROWS = 20 * 81;
  test.each([
    ['a bad CRC', (() => { const png = Buffer.from(pngOf(20, 20, (x) => (x > 8 ? 0 : 255))); png[29] ^= 0xff; return png; })(), /could not be decoded: the CRC of its IHDR chunk at byte 8 does not match its contents \(the file is damaged\)$/],
    ['a bad CRC of the image data', (() => { const png = Buffer.from(pngOf(20, 20, (x) => (x > 8 ? 0 : 255))); png[png.length - 13] ^= 0x01; return png; })(), /the CRC of its IDAT chunk at byte 33 does not match/],
    ['colour type 5', withIhdr(9, 5), /colour type 5 is not a PNG colour type \(0, 2, 3, 4 or 6\)$/],
    ['bit depth 7', withIhdr(8, 7), /bit depth 7 is not allowed with colour type 6 \(allowed: 8, 16\)$/],
    ['bit depth 4 in RGBA', withIhdr(8, 4), /bit depth 4 is not allowed with colour type 6/],
    ['compression method 1', withIhdr(10, 1), /compression method 1 is not a PNG compression method/],
    ['filter method 1', withIhdr(11, 1), /filter method 1 is not a PNG filter method/],
    ['interlace method 2', withIhdr(12, 2), /interlace method 2 is not a PNG interlace method \(0 or 1\)$/],
    ['no IDAT at all', withIdat(null), /it has no image data \(no IDAT chunk before IEND\)$/],
    ['too much image data', withIdat(deflateSync(Buffer.alloc(ROWS + 81))), new RegExp(`inflates to more than the ${ROWS} bytes its 20×20 pixels take$`)],
    ['too little image data', withIdat(deflateSync(Buffer.alloc(50))), new RegExp(`inflates to 50 bytes; its 20×20 pixels take ${ROWS}$`)],
    ['image data that is not zlib', withIdat(Buffer.from('not zlib data at all')), /its image data \(IDAT\) is not valid zlib data \(incorrect header check\)$/],
    ['a row filter type 9', withIdat(deflateSync(Buffer.alloc(ROWS, 9))), /a row of its image data has filter type 9 \(PNG has 0–4\)$/],
    ['a palette image without PLTE', (() => { const chunks = chunksOf(withIhdr(9, 3)); return pngFrom([chunks[0]!, ['IDAT', deflateSync(Buffer.alloc(20 * 21))], ['IEND', Buffer.alloc(0)]]); })(), /palette image \(colour type 3\) without a PLTE chunk/],
    ['no IEND', (() => { const png = pngOf(20, 20, (x) => (x > 8 ? 0 : 255)); return png.subarray(0, png.length - 12); })(), /the PNG ends before its IEND chunk \(truncated\)$/],
  ])('a PNG with %s is a 400 naming the problem', (_name, bytes, message) => {
    // Given a PNG with one thing wrong (every other CRC right), When it is decoded
    const error = inputError(() => imageFileToDigit(bytes));
    // Then the 400 says what is wrong, not what pngjs's reader tripped over afterwards
    expect(error.status).toBe(400);
    expect(error.message).toMatch(message);
    expect(error.hint).toBeTruthy();
  });

  test('bytes after IEND are ignored, as browsers ignore them', () => {
    // Given a valid PNG with trailing bytes
    const png = Buffer.concat([pngOf(40, 40, sevenOnPaper(40, 40)), Buffer.from('trailing junk')]);
    // When it is decoded, Then it reads as the same PNG without them
    expect(Array.from(imageFileToDigit(png))).toEqual(Array.from(imageFileToDigit(pngOf(40, 40, sevenOnPaper(40, 40)))));
  });

  test('a JPEG that makes jpeg-js throw a TypeError is a 400 "not a valid JPEG", not the decoder\'s internals', () => {
    // Given a small JPEG of a bar with one byte of its Huffman tables zeroed (jpeg-js then
    // throws "Cannot set properties of undefined (setting 'huffmanTableDC')")
    const rgba = Buffer.alloc(16 * 16 * 4);
    for (let i = 0; i < 256; i++) rgba.fill(i % 16 > 5 && i % 16 < 10 ? 0 : 255, 4 * i, 4 * i + 3), (rgba[4 * i + 3] = 255);
    const bytes = Buffer.from(jpeg.encode({ data: rgba, width: 16, height: 16 }, 90).data);
    bytes[164] = 0;
    expect(() => jpeg.decode(bytes, { useTArray: true })).toThrow(TypeError);
    // When it is decoded
    const error = inputError(() => imageFileToDigit(bytes, 'file "x.jpg"'));
    // Then the 400 says it is not a valid JPEG, without the decoder's own words
    expect(error.status).toBe(400);
    expect(error.message).toBe('file "x.jpg" could not be decoded: not a valid JPEG: its data is inconsistent (the decoder could not follow it)');
  });

  test('a JPEG cut short is called truncated', () => {
    // Given the first 400 bytes of a 120×120 JPEG
    const rgba = Buffer.alloc(120 * 120 * 4, 255);
    for (let i = 0; i < 120 * 120; i++) if (i % 120 > 50 && i % 120 < 70) rgba.fill(0, 4 * i, 4 * i + 3);
    const bytes = jpeg.encode({ data: rgba, width: 120, height: 120 }, 90).data.subarray(0, 400);
    // When it is decoded, Then the 400 says so
    expect(inputError(() => imageFileToDigit(bytes)).message).toMatch(/could not be decoded: the JPEG ends before its end-of-image marker \(truncated\)$/);
  });

  test('a PNG claiming 100 000 × 100 000 pixels is refused from its header, before decoding', () => {
    const png = Buffer.from(pngOf(8, 8, () => 0));
    png.writeUInt32BE(100_000, 16);
    png.writeUInt32BE(100_000, 20);
    const started = performance.now();
    const error = inputError(() => decodeImage(png));
    expect(error.status).toBe(413);
    expect(error.message).toMatch(/100000×100000/);
    expect(performance.now() - started).toBeLessThan(50);
  });

  test('a drawing that touches nothing but the border is still found (the border decides the background)', () => {
    const grey = toInkGrey({ width: 3, height: 1, data: Uint8Array.from([255, 255, 255, 255, 0, 0, 0, 255, 255, 255, 255, 255]) });
    expect(Array.from(grey)).toEqual([0, 1, 0]);
    expect(centreLikeMnist(new Float32Array(100), 10, 10)).toBeNull();
  });
});
