/**
 * Members re-planned as they start (`digits run`'s deadline): a member whose planned epochs
 * would pass the deadline, at the speed the members before it trained, gets fewer epochs and
 * a schedule over them (auto: decaying to a tenth), rather than being cut by the deadline with
 * its rate not yet decayed (until session 44); run.json records it and `--resume` keeps it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import { buildPracticeCompetition } from '../../src/data/practice.js';
import { initEngine } from '../../src/engine/backend.js';
import { autoSchedule, replanAutoMember } from '../../src/ensemble/auto.js';
import { ensembleFromJson } from '../../src/ensemble/ensemble-spec.js';
import { trainEnsemble } from '../../src/services/train.js';
import type { EnsembleEvent, MemberConfig } from '../../src/training/train-member.js';

let root: string;
let competition: string;

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  root = await mkdtemp(path.join(os.tmpdir(), 'digits-replan-'));
  competition = path.join(root, 'comp');
  await buildPracticeCompetition({ recipe: 'clean', out: competition, trainRows: 800, testRows: 20, seed: 4 });
  await importCompetition({ ...(await resolveCompetitionFiles([competition])), orientation: 'as-is' });
}, 120_000);
afterAll(() => rm(root, { recursive: true, force: true }));

test("auto's re-planned member keeps decaying to a tenth, over the epochs it has", () => {
  expect(autoSchedule(1)).toEqual({ kind: 'constant' });
  expect(autoSchedule(2)).toEqual({ kind: 'exponential', decay: 0.1 });
  expect(autoSchedule(7)).toEqual({ kind: 'exponential', decay: 0.681 });
  const member = { name: 'seed002-3-f2', epochs: 7, schedule: autoSchedule(7), learningRate: 6e-5 } as MemberConfig;
  expect(replanAutoMember(member, 4)).toEqual({ ...member, epochs: 4, schedule: { kind: 'exponential', decay: 0.464 } });
});

test('a member that starts with too little time left is given the epochs that fit, recorded in run.json; --resume keeps them', { timeout: 180_000 }, async () => {
  // Given two members one after the other: a trains 3 epochs, then b is planned for 5,000,
  // far more than the deadline 12 s after the start leaves room for
  const ensemble = ensembleFromJson(
    JSON.stringify({ name: 'two', validation: { kind: 'shared', fraction: 0.2, seed: 1 }, members: [{ preset: 'mlp', name: 'a', epochs: 3, seed: 1 }, { preset: 'mlp', name: 'b', epochs: 5000, seed: 2 }] }),
  );
  const runDir = path.join(root, 'runs', 'two');
  const events: EnsembleEvent[] = [];
  const asked: Array<[string, number]> = [];
  const replan = {
    member: (m: MemberConfig, epochs: number) => {
      asked.push([m.name, epochs]);
      return { ...m, epochs, schedule: { kind: 'exponential' as const, decay: 0.5 } };
    },
    startSeconds: 1,
  };
  const manifest = await trainEnsemble({ ensemble, data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest', deadline: Date.now() + 12_000, replan, onEvent: (e) => events.push(e) });

  // Then a, the first (no speed measured yet), kept its 3 epochs; b was given fewer than 5,000, at least one
  expect(asked.map(([name]) => name)).toEqual(['b']);
  const fit = asked[0]![1];
  expect(fit).toBeGreaterThanOrEqual(1);
  expect(fit).toBeLessThan(5000);
  const said = events.find((e) => e.type === 'replanned');
  expect(said).toMatchObject({ type: 'replanned', member: 'b', planned: 5000, epochs: fit });
  // the worker trained b with them: its start event and its outcome count them
  expect(events.find((e) => e.type === 'start' && e.member === 'b')).toMatchObject({ epochs: fit });
  const [a, b] = manifest.members;
  expect(a).toMatchObject({ name: 'a', ok: true, epochs: 3 });
  expect(b!.ok).toBe(true);
  expect(b!.epochs!).toBeLessThanOrEqual(fit);
  // run.json records what b trained with instead, and why
  const recorded = JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8')) as { replanned: Record<string, unknown> };
  expect(Object.keys(recorded.replanned)).toEqual(['b']);
  expect(recorded.replanned.b).toMatchObject({ planned: 5000, epochs: fit, schedule: { kind: 'exponential', decay: 0.5 }, secondsPerEpoch: expect.any(Number), secondsLeft: expect.any(Number) });

  // When the run is resumed (no deadline), b keeps its re-planned epochs: it ends at them (with the
  // planned 5,000 it would go on to those), having trained only what the deadline cut short, if anything
  const again: EnsembleEvent[] = [];
  const resumed = await trainEnsemble({ ensemble, data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest', resume: true, onEvent: (e) => again.push(e) });
  expect(again.find((e) => e.type === 'start' && e.member === 'b')).toMatchObject({ epochs: fit, resumedAt: b!.epochs });
  expect(again.filter((e) => e.type === 'epoch').map((e) => (e as { member: string; epochs: number }).epochs)).toEqual(Array(fit - b!.epochs!).fill(fit));
  expect(resumed.members[1]).toMatchObject({ name: 'b', ok: true, epochs: fit });
  expect(resumed.replanned).toEqual(recorded.replanned);
});

test("a resumed run keeps to the deadline: a member with saved epochs past it stops where it is, and one not started is re-planned at the speed recorded before", { timeout: 180_000 }, async () => {
  // Given a run of three members trained under a distant deadline (its speed recorded in run.json)
  // (c trains 6 epochs the first time, 50 when resumed: 2 + 2 + 6 epochs are still more than the
  // 8 latest that set the speed, and c's folder is removed before the resume all the same)
  const spec = (bEpochs: number, cEpochs = 50) =>
    ensembleFromJson(
      JSON.stringify({
        name: 'three',
        validation: { kind: 'shared', fraction: 0.2, seed: 1 },
        members: [
          { preset: 'mlp', name: 'a', epochs: 2, seed: 1 },
          { preset: 'mlp', name: 'b', epochs: bEpochs, seed: 2 },
          { preset: 'mlp', name: 'c', epochs: cEpochs, seed: 3 },
        ],
      }),
    );
  const runDir = path.join(root, 'runs', 'three');
  const replan = { member: (m: MemberConfig, epochs: number) => ({ ...m, epochs, schedule: { kind: 'exponential' as const, decay: 0.5 } }), startSeconds: 1 };
  await trainEnsemble({ ensemble: spec(2, 6), data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest', deadline: Date.now() + 3_600_000, replan: { ...replan, member: (m) => m } });
  const recorded = JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8')) as { epochRowSeconds: number[] };
  expect(recorded.epochRowSeconds.length).toBeGreaterThan(0);
  expect(recorded.epochRowSeconds.length).toBeLessThanOrEqual(8);
  for (const v of recorded.epochRowSeconds) expect(v).toBeGreaterThan(0);
  // …as if it had been interrupted with b at 2 of its 6 epochs and c not started
  await rm(path.join(runDir, 'c'), { recursive: true });

  // When it is resumed with its deadline already passed
  const events: EnsembleEvent[] = [];
  const resumed = await trainEnsemble({ ensemble: spec(6), data: competition, runDir, concurrency: 1, backend: 'wasm', command: 'vitest', resume: true, deadline: Date.now() - 1000, replan, onEvent: (e) => events.push(e) });

  // Then b trains no further epoch and is marked as stopped at the deadline
  const epochsOf = (name: string) => events.filter((e) => e.type === 'epoch' && e.member === name).length;
  expect(epochsOf('a')).toBe(0);
  expect(epochsOf('b')).toBe(0);
  expect(resumed.members[1]).toMatchObject({ name: 'b', ok: true, epochs: 2, stoppedAtDeadline: true });
  // …a, finished, is not said to have been stopped
  expect(resumed.members[0]!.stoppedAtDeadline).toBeUndefined();
  // …and c, not started, is re-planned from the recorded speed to the one epoch it is always given
  expect(events.find((e) => e.type === 'replanned')).toMatchObject({ member: 'c', planned: 50, epochs: 1 });
  expect(epochsOf('c')).toBe(1);
  expect(resumed.members[2]).toMatchObject({ name: 'c', ok: true, epochs: 1 });
  expect(Object.keys(resumed.replanned ?? {})).toEqual(['c']);
});
