import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { abandonedRunFolders, CLAIM_FILE, claimRunFolder, freeRunName, keepClaimSync, releaseClaim, removeAbandonedRunFolders, removeEmptyParent } from '../../src/runs/new-folder.js';
import { deadPid as exitedPid } from '../helpers/dead-pid.js';

test('runs named to the second: claims made at once get folders of their own, and a runs/ a claim made goes when empty', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'digits-claim-'));
  try {
    const runs = path.join(root, 'runs');
    // Given three runs claiming the same name at the same moment
    const claims = await Promise.all([0, 1, 2].map(() => claimRunFolder(runs, 'auto-20261205-101500')));
    // Then each has its own folder, made, and the names say which came first
    expect(claims.map((c) => c.name).sort()).toEqual(['auto-20261205-101500', 'auto-20261205-101500-2', 'auto-20261205-101500-3']);
    expect((await readdir(runs)).sort()).toEqual(claims.map((c) => c.name).sort());
    // each marked with its claim (who made it), which goes when the run ends
    for (const c of claims) expect(await readdir(c.dir)).toEqual([CLAIM_FILE]);
    for (const c of claims) await releaseClaim(c);
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

test('a claimed folder is abandoned only when its claimant is gone from this host and it holds nothing resumable', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'digits-claim-'));
  try {
    const runs = path.join(root, 'runs');
    // A pid that no longer runs: a child that has exited and been reaped
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    const claimed = async (name: string, holder: object, files: string[] = []) => {
      const dir = path.join(runs, name);
      await mkdir(path.join(dir, 'auto-probes'), { recursive: true });
      await writeFile(path.join(dir, CLAIM_FILE), JSON.stringify(holder));
      for (const file of files) {
        await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
        await writeFile(path.join(dir, file), '{}');
      }
      return dir;
    };
    const startedAt = new Date(Date.now() - 60_000).toISOString();
    const here = os.hostname();
    // Given a folder claimed by this process (running), one by a killed process, one of another
    // host, a killed one that had written run.json, one with round 1's, one without a claim
    const live = await claimRunFolder(runs, 'auto-live', 'digits run --data x');
    const gone = await claimed('auto-gone', { pid: deadPid, hostname: here, startedAt, command: 'digits run --data x' });
    await claimed('auto-elsewhere', { pid: deadPid, hostname: `${here}-other`, startedAt, command: 'digits run' });
    await claimed('auto-trained', { pid: deadPid, hostname: here, startedAt, command: 'digits run' }, ['run.json']);
    await claimed('auto-round1', { pid: deadPid, hostname: here, startedAt, command: 'digits run' }, ['round1/run.json']);
    await claimed('auto-torn', { pid: 'x' }, []);
    await mkdir(path.join(runs, 'mine', 'auto-probes'), { recursive: true });
    // Then only the killed one with nothing resumable is abandoned
    expect(JSON.parse(await readFile(path.join(live.dir, CLAIM_FILE), 'utf8'))).toMatchObject({ pid: process.pid, hostname: here, command: 'digits run --data x' });
    expect(await abandonedRunFolders(runs)).toEqual([{ dir: gone, holder: { pid: deadPid, hostname: here, startedAt, command: 'digits run --data x' } }]);
    // And removing the abandoned folders removes that one alone
    expect((await removeAbandonedRunFolders(runs)).map((f) => f.dir)).toEqual([gone]);
    expect((await readdir(runs)).sort()).toEqual(['auto-elsewhere', 'auto-live', 'auto-round1', 'auto-torn', 'auto-trained', 'mine']);
    // And a claim released (the run ended) leaves its folder as the run left it
    await releaseClaim(live);
    expect(await readdir(live.dir)).toEqual([]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a stopped run\'s folder that could not be removed stays claimed (its .claim written again), so it is abandoned once the process is gone', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'digits-claim-'));
  try {
    const runs = path.join(root, 'runs');
    // Given a claimed folder whose removal took its .claim but left a probe's files (a save racing it)
    const claim = await claimRunFolder(runs, 'auto-20261206-191443');
    await rm(path.join(claim.dir, CLAIM_FILE));
    await mkdir(path.join(claim.dir, 'auto-probes', 'probe-1-noisy'), { recursive: true });
    await writeFile(path.join(claim.dir, 'auto-probes', 'probe-1-noisy', 'history.json'), '[]\n');
    // When the process keeps its claim as it dies
    keepClaimSync(claim);
    // Then the folder is claimed by it again: abandoned once that process is gone (here, a dead pid's claim)
    expect(JSON.parse(await readFile(path.join(claim.dir, CLAIM_FILE), 'utf8'))).toEqual(claim.holder);
    await writeFile(path.join(claim.dir, CLAIM_FILE), `${JSON.stringify({ ...claim.holder, pid: await exitedPid() })}\n`);
    expect((await abandonedRunFolders(runs)).map((a) => a.dir)).toEqual([claim.dir]);
    // and a folder already gone is left gone
    await rm(claim.dir, { recursive: true });
    keepClaimSync(claim);
    expect(existsSync(claim.dir)).toBe(false);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
