/** Finding training runs: the one named by --run, or the newest under runs/. */
import { access, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';

export async function resolveRunDir(run: string | undefined, needs = 'run.json'): Promise<string> {
  if (run) return path.resolve(run);
  const root = path.resolve('runs');
  const names = await readdir(root).catch(() => [] as string[]);
  const candidates: Array<{ dir: string; mtime: number }> = [];
  for (const name of names) {
    const dir = path.join(root, name);
    const ok = await access(path.join(dir, needs)).then(
      () => true,
      () => false,
    );
    if (ok) candidates.push({ dir, mtime: (await stat(path.join(dir, needs))).mtimeMs });
  }
  candidates.sort((a, b) => b.mtime - a.mtime);
  if (!candidates[0]) {
    throw new UserError(`no run with ${needs} under ${root}`, { where: { flag: 'run' }, hint: 'Pass --run <run folder>, or train one with `digits train --data <competition>`.' });
  }
  return candidates[0].dir;
}
