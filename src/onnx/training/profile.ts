/** Time by ONNX op type from ONNX Runtime's profile files (the trainer's `profile: true`). */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface OrtProfileEntry {
  op: string;
  ms: number;
  share: number;
}

export interface OrtProfile {
  /** kernel time per run */
  totalMs: number;
  runs: number;
  ops: OrtProfileEntry[];
}

/** Sums the kernel times of every profile file in `dir`, per op type and per run. */
export function readProfiles(dir: string): OrtProfile {
  const byOp = new Map<string, number>();
  let runs = 0;
  for (const file of readdirSync(dir)) {
    const events = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Array<{ cat: string; name: string; dur: number; args?: { op_name?: string } }>;
    for (const e of events) {
      if (e.cat === 'Session' && e.name === 'model_run') runs++;
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const op = e.args?.op_name ?? 'unknown';
      byOp.set(op, (byOp.get(op) ?? 0) + e.dur / 1000);
    }
  }
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  const perRun = Math.max(1, runs);
  const ops = [...byOp.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([op, ms]) => ({ op, ms: Number((ms / perRun).toFixed(2)), share: Number((ms / total).toFixed(3)) }));
  return { totalMs: Number((total / perRun).toFixed(1)), runs, ops };
}
