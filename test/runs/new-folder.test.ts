import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { claimRunFolder, freeRunName, removeEmptyParent } from '../../src/runs/new-folder.js';

test('runs named to the second: claims made at once get folders of their own, and a runs/ a claim made goes when empty', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'digits-claim-'));
  try {
    const runs = path.join(root, 'runs');
    // Given three runs claiming the same name at the same moment
    const claims = await Promise.all([0, 1, 2].map(() => claimRunFolder(runs, 'auto-20261205-101500')));
    // Then each has its own folder, made, and the names say which came first
    expect(claims.map((c) => c.name).sort()).toEqual(['auto-20261205-101500', 'auto-20261205-101500-2', 'auto-20261205-101500-3']);
    expect((await readdir(runs)).sort()).toEqual(claims.map((c) => c.name).sort());
    // one of them made runs/, and says so
    expect(claims.filter((c) => c.madeParent === runs)).toHaveLength(1);
    // a name not claimed yet, for train (which makes and locks its folder itself)
    expect(freeRunName(runs, 'auto-20261205-101500')).toBe('auto-20261205-101500-4');
    // runs/ is removed by the claim that made it only once it is empty
    const maker = claims.find((c) => c.madeParent)!;
    await removeEmptyParent(maker);
    expect(existsSync(runs)).toBe(true);
    for (const c of claims) await rm(c.dir, { recursive: true });
    await removeEmptyParent(maker);
    expect(existsSync(runs)).toBe(false);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
