import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { removeOwnImportFilesSync } from '../../src/data/import.js';

test('an import stopped by a signal removes its own partial files at once, and nothing of a cache or another import', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'digits-import-stop-'));
  try {
    const pid = process.pid;
    // Given a cache (its manifest and files), this import's temps and renamed files, and another live import's temp
    const cache = path.join(root, 'cached');
    await mkdir(cache);
    const kept = ['dataset.json', 'train-images-abc-111-aaaaaa.u8', 'train-labels-abc-111-aaaaaa.u8'];
    await writeFile(path.join(cache, 'dataset.json'), JSON.stringify({ train: { images: kept[1], labels: kept[2] }, test: { images: 'test-images-abc-111-aaaaaa.u8', ids: 'test-ids-abc-111-aaaaaa.json' } }));
    for (const name of kept.slice(1)) await writeFile(path.join(cache, name), 'x');
    const ours = [`train-images-xyz-${pid}-bbbbbb.u8.tmp-${pid}-0a1b2c3d`, `test-images-xyz-${pid}-bbbbbb.u8`];
    for (const name of ours) await writeFile(path.join(cache, name), 'partial');
    const other = 'train-images-q-1-cccccc.u8.tmp-1-deadbeef';
    await writeFile(path.join(cache, other), 'another import');
    // When this import is stopped
    const hasCache = removeOwnImportFilesSync(cache);
    // Then its files are gone; the cache and the other import's file stay, and it says a cache is there
    expect(hasCache).toBe(true);
    expect((await readdir(cache)).sort()).toEqual([...kept, other].sort());
    // and a first import stopped leaves no folder at all
    const first = path.join(root, 'first');
    await mkdir(first);
    await writeFile(path.join(first, `train-ids-xyz-${pid}-bbbbbb.json.tmp-${pid}-0a1b2c3d`), 'partial');
    expect(removeOwnImportFilesSync(first)).toBe(false);
    expect(existsSync(first)).toBe(false);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
