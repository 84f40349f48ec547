import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { previewAugmentation } from '../../src/services/augment-preview.js';

let dir: string;
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-augprev-'));
  await buildPracticeCompetition({ recipe: 'clean', out: path.join(dir, 'c'), trainRows: 50, testRows: 5, seed: 1 });
  await importCompetition({ ...(await resolveCompetitionFiles([path.join(dir, 'c')])), orientation: 'as-is' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('each sample row is shown as it is, then as its augmented draws, reproducibly', async () => {
  const options = { data: path.join(dir, 'c'), augmentation: { rotation: 20, zoom: 0.2 }, samples: 3, variants: 4, seed: 7 };
  const preview = await previewAugmentation(options);
  expect(preview.tiles).toHaveLength(3 * 5);
  expect(preview.columns).toBe(5);
  const [original, ...draws] = preview.tiles.slice(0, 5);
  expect(original!.caption).toMatch(/^#\d+ label \d$/);
  expect(original!.mark).toBe('original');
  expect(draws.every((d) => d.mark === undefined)).toBe(true);
  for (const d of draws) {
    expect(d.label).toBe(original!.label);
    expect(Array.from(d.image)).not.toEqual(Array.from(original!.image));
  }
  // each sample's label as a number, the one its caption shows
  expect(preview.labels).toHaveLength(3);
  preview.labels.forEach((label, i) => {
    expect(typeof label).toBe('number');
    expect(preview.tiles[i * 5]!.caption).toBe(`#${preview.rows[i]!} label ${label}`);
  });
  const again = await previewAugmentation(options);
  expect(again.tiles.map((t) => Array.from(t.image))).toEqual(preview.tiles.map((t) => Array.from(t.image)));
});
