/**
 * The image decoders (decode-pool.ts) are child processes that exit when idle, so the memory
 * a burst of large decodes took goes back to the system, and start again on the next file.
 * Real processes, real PNG and JPEG files, a short idle timeout.
 */
import jpeg from 'jpeg-js';
import { afterEach, describe, expect, test } from 'vitest';
import { DecodePool } from '../../src/serve/decode-pool.js';
import { InputError, imageFileToDigit } from '../../src/serve/image-input.js';
import { pngOf, sevenOnPaper } from './helpers.js';

function jpegOf(width: number, height: number): Buffer {
  const grey = sevenOnPaper(width, height);
  const rgba = Buffer.alloc(width * height * 4, 255);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgba.fill(grey(x, y), 4 * (y * width + x), 4 * (y * width + x) + 3);
  return Buffer.from(jpeg.encode({ data: rgba, width, height }, 90).data);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let pool: DecodePool | null = null;
afterEach(async () => {
  await pool?.close();
  pool = null;
});

describe('decode pool', () => {
  test('the decoders exit after the idle timeout, and the next files start them again and decode the same', async () => {
    // Given a pool whose decoders exit after 300 ms idle, a pad-sized PNG (small lane) and a 900×700 JPEG (large lane)
    pool = new DecodePool({ idleMs: 300 });
    const small = pngOf(280, 280, sevenOnPaper(280, 280));
    const large = jpegOf(900, 700);
    const files = [
      { bytes: small, what: 'small.png', pixels: 280 * 280 },
      { bytes: large, what: 'large.jpg', pixels: 900 * 700 },
    ];
    const expected = files.map((f) => imageFileToDigit(f.bytes, f.what));
    expect(pool.running).toBe(0);

    // When both are decoded
    const first = await pool.decodeAll(files);

    // Then they match this process's own decoding, from two decoder processes of their own
    expect(first.map((d) => Array.from(d))).toEqual(expected.map((d) => Array.from(d)));
    const pids = pool.pids;
    expect(pids).toHaveLength(2);
    expect(pids).not.toContain(process.pid);
    expect(pids.every(alive)).toBe(true);

    // When nothing comes for the idle timeout, the processes have ended (their memory is the system's again)
    await until('the pool has no decoder left', () => pool!.running === 0);
    await until('the decoder processes are gone', () => !pids.some(alive));

    // And the next request starts new decoders and gets the same digits
    const second = await pool.decodeAll(files);
    expect(second.map((d) => Array.from(d))).toEqual(expected.map((d) => Array.from(d)));
    expect(pool.running).toBe(2);
    expect(pool.pids.some((pid) => pids.includes(pid))).toBe(false);
    expect(pool.decoded).toBe(4);
  });

  test("a client's bad file comes back as the same InputError, and the decoders go on", async () => {
    // Given a pool and a PNG whose data is cut short after its header
    pool = new DecodePool({ idleMs: 300 });
    const good = pngOf(120, 120, sevenOnPaper(120, 120));
    const cut = good.subarray(0, 60);

    // When the cut file is decoded, then the good one
    const error = await pool.decodeAll([{ bytes: cut, what: 'cut.png', pixels: 120 * 120 }]).then(
      () => null,
      (e: unknown) => e,
    );
    const digit = await pool.decodeAll([{ bytes: good, what: 'good.png', pixels: 120 * 120 }]);

    // Then the first is a 400 naming the file, as the in-process decoder says, and the second decodes
    let local: unknown = null;
    try {
      imageFileToDigit(cut, 'cut.png');
    } catch (e) {
      local = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect(local).toBeInstanceOf(InputError);
    expect((error as InputError).status).toBe((local as InputError).status);
    expect((error as InputError).message).toBe((local as InputError).message);
    expect((error as InputError).message).toContain('cut.png');
    expect(Array.from(digit[0]!)).toEqual(Array.from(imageFileToDigit(good, 'good.png')));
  });

  test('close ends the decoder processes and refuses what comes after', async () => {
    // Given a pool that has decoded a file
    pool = new DecodePool({ idleMs: 60_000 });
    await pool.decodeAll([{ bytes: pngOf(60, 60, sevenOnPaper(60, 60)), what: 'a.png', pixels: 3600 }]);
    const pids = pool.pids;
    expect(pids.length).toBeGreaterThan(0);

    // When it is closed
    await pool.close();

    // Then its processes are gone and a new file is a 503
    await until('the decoder processes are gone', () => !pids.some(alive));
    const error = await pool.decodeAll([{ bytes: pngOf(60, 60, sevenOnPaper(60, 60)), what: 'b.png', pixels: 3600 }]).catch((e: unknown) => e);
    expect((error as InputError).status).toBe(503);
  });
});
