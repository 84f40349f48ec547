/**
 * bench/unseen.ts: the rows are the ones the shipped checkpoints were validated on (their
 * metadata's digest), minus what a run trained on; the images are the recipe's corruption
 * with streams of their own, not the competition's rows again.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { unseenImages, unseenRows, type PracticeAnswers } from '../../bench/unseen.js';
import { readMnist, type MnistSet } from '../../src/data/mnist.js';
import { practiceRows, practiceSourceIndices, type PracticeRow } from '../../src/data/practice.js';

let mnist: MnistSet;
beforeAll(async () => {
  mnist = await readMnist('train');
});

describe('bench/unseen', () => {
  test('with nothing excluded the rows are the shipped siblings\' validation rows (same sha256 as their metadata)', async () => {
    const rows = unseenRows(mnist, []);
    const meta = JSON.parse(await readFile(path.join(import.meta.dirname, '../../checkpoints/mnist-clean/seed002-2/metadata.json'), 'utf8'));
    const digest = createHash('sha256').update(new Uint8Array(Int32Array.from(rows).buffer)).digest('hex');
    expect(rows).toHaveLength(meta.hyperparameters.validationRows);
    expect(digest).toBe(meta.hyperparameters.validationRowsSha256);
  });

  test('a competition\'s training sources and other excluded rows are left out, and nothing else', () => {
    const all = unseenRows(mnist, []);
    const sources = Array.from(practiceSourceIndices('train', 12000, 42));
    const rows = unseenRows(mnist, [...sources, all[0]!]);
    const trained = new Set(sources);
    expect(rows.some((r) => trained.has(r))).toBe(false);
    expect(rows).not.toContain(all[0]);
    expect(rows).toEqual(all.filter((r) => r !== all[0] && !trained.has(r)));
    // about a fifth of MNIST train is the competition's, so about four fifths remain
    expect(rows.length / all.length).toBeGreaterThan(0.75);
    expect(rows.length / all.length).toBeLessThan(0.85);
  });

  test('images: the recipe\'s corruption of the source digit, quantised like the competition, with fresh noise', () => {
    const answers: PracticeAnswers = { recipe: 'mnistc-shot-noise', seed: 42, sigma: null, layout: { pixels: 'integer' }, train: { sourceIndices: [] } };
    // A source that the competition with these settings does use, to compare with its row
    const validation = new Set(unseenRows(mnist, []));
    let shared: PracticeRow | undefined;
    for (const row of practiceRows({ recipe: 'mnistc-shot-noise', split: 'train', count: 12000, seed: 42, sigma: null }, mnist)) {
      if (validation.has(row.sourceIndex)) {
        shared = row;
        break;
      }
    }
    if (!shared) throw new Error('no competition row among the validation rows');
    const data = unseenImages(mnist, [shared.sourceIndex], answers);
    expect(data.count).toBe(1);
    expect(data.labels[0]).toBe(mnist.labels[shared.sourceIndex]);
    const px = Array.from(data.images.subarray(0, 784));
    // integer layout: every value is k/255
    for (const v of px) expect(Math.abs(v * 255 - Math.round(v * 255))).toBeLessThan(1e-4);
    // the digit is there (ink where MNIST has ink) …
    const digit = mnist.images.subarray(shared.sourceIndex * 784, (shared.sourceIndex + 1) * 784);
    const inked = px.filter((_, k) => digit[k]! > 200);
    expect(inked.reduce((a, b) => a + b, 0) / inked.length).toBeGreaterThan(0.6);
    // … but not the competition's copy of it: the noise is drawn afresh
    const theirs = Array.from(shared.values, (v) => v / 255);
    expect(px).not.toEqual(theirs);
  });
});
