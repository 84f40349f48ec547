/** Finding training runs: the one named by --run, or the newest under runs/. */
import path from 'node:path';
import { UserError } from '../errors.js';
import { newestRunWith } from '../runs/manifest.js';

export async function resolveRunDir(run: string | undefined, needs = 'run.json'): Promise<string> {
  if (run) return path.resolve(run);
  const dir = await newestRunWith('runs', needs);
  if (!dir) {
    throw new UserError(`no run with ${needs} under ${path.resolve('runs')}`, { where: { flag: 'run' }, hint: 'Pass --run <run folder>, or train one with `digits train --data <competition>`.' });
  }
  return dir;
}
