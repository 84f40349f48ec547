/**
 * A real run folder for serving tests: members freshly built from presets (untrained, so
 * their answers are arbitrary but deterministic), saved as checkpoints, and a run.json
 * whose dataset points nowhere (the server must not need it).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PNG } from 'pngjs';
import { saveCheckpoint } from '../../src/model/checkpoint.js';
import { buildModel, getPreset } from '../../src/model/presets.js';
import type { RunManifest } from '../../src/runs/manifest.js';

export interface MemberSpec {
  name: string;
  preset: string;
  seed?: number;
}

/** Writes `<root>/<name>/` with one checkpoint per member and run.json; returns the run folder. Needs an initialised tfjs engine. */
export async function makeRun(root: string, members: MemberSpec[], name = 'run', orientation = 'as-is'): Promise<string> {
  const runDir = path.join(root, name);
  await mkdir(runDir, { recursive: true });
  for (const m of members) {
    const model = buildModel(m.preset, { seed: m.seed ?? 1 });
    const spec = getPreset(m.preset).preprocessing;
    await saveCheckpoint(model, path.join(runDir, m.name, 'best'), {
      preset: m.preset,
      hyperparameters: {},
      preprocessing: spec.scale === 'standardize' ? { ...spec, mean: 0.1307, std: 0.3081 } : { ...spec },
      orientation,
      seed: m.seed ?? 1,
      dataFingerprint: null,
      metrics: {},
      command: 'vitest',
    });
    model.dispose();
  }
  const manifest = {
    format: 'digits-run',
    version: 1,
    name,
    ensemble: { name: 'test', description: 'freshly built members', validation: { kind: 'shared', fraction: 0.1, seed: 1 }, members: [] },
    dataset: { dir: '/nonexistent/dataset', fingerprint: 'sha256:none' },
    createdAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    seconds: 0,
    command: 'vitest',
    members: members.map((m) => ({ name: m.name, preset: m.preset, ok: true, checkpoint: `${m.name}/best`, split: { name: 'holdout', fold: 0 }, bestValAcc: 0.5, epochs: 1, bestEpoch: 0 })),
  } as unknown as RunManifest;
  await writeFile(path.join(runDir, 'run.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return runDir;
}

/** A greyscale-on-RGBA PNG, `width`×`height`, from a function giving each pixel's grey (0–255). */
export function pngOf(width: number, height: number, grey: (x: number, y: number) => number, alpha: (x: number, y: number) => number = () => 255): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      const g = grey(x, y);
      png.data[i] = g;
      png.data[i + 1] = g;
      png.data[i + 2] = g;
      png.data[i + 3] = alpha(x, y);
    }
  }
  return PNG.sync.write(png);
}

/** A dark "7" on light paper, drawn at any size (thick strokes), as grey(x, y). */
export function sevenOnPaper(width: number, height: number): (x: number, y: number) => number {
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 10));
  return (x, y) => {
    const u = x / width;
    const v = y / height;
    const top = v > 0.2 && v < 0.2 + stroke / height && u > 0.3 && u < 0.72;
    // the diagonal from (0.7, 0.2) down to (0.42, 0.82)
    const t = (v - 0.2) / 0.62;
    const diagonal = t >= 0 && t <= 1 && Math.abs(u - (0.7 - 0.28 * t)) < stroke / width / 1.5;
    return top || diagonal ? 20 : 235;
  };
}

/** 784 pixel values 0–255 of a simple "1" (a vertical bar), for JSON requests. */
export function oneAsPixels(): number[] {
  return Array.from({ length: 784 }, (_, i) => {
    const x = i % 28;
    const y = Math.floor(i / 28);
    return x >= 13 && x <= 15 && y >= 4 && y <= 23 ? 255 : 0;
  });
}
