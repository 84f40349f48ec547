/**
 * The corrections store in real temp files: append and read back, a torn last line (a crash
 * mid-write) skipped with a warning and not glued to the next record, concurrent appends
 * staying whole, the ImageSet for training, and `digits corrections` (text, JSON, PNG).
 */
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import CorrectionsCommand from '../../src/commands/corrections.js';
import { UserError } from '../../src/errors.js';
import { appendCorrection, correctionsAsImageSet, mergeImageSets, readCorrections, summarizeCorrections, type CorrectionRecord } from '../../src/data/corrections.js';
import { parseCorrection } from '../../src/serve/correction-input.js';
import { InputError } from '../../src/serve/image-input.js';
import { oneAsPixels } from './helpers.js';
import { runCommand as runInProcess } from '../helpers/run-command.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-corrections-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(label: number, predicted: number | null, fill = label * 20): CorrectionRecord {
  return { v: 1, time: new Date(0).toISOString(), label, predicted, image: new Array(784).fill(fill) };
}

describe('the store', () => {
  test('appends one JSON line per correction and reads them back in order', async () => {
    const file = path.join(dir, 'nested', 'a.jsonl');
    await appendCorrection(file, record(7, 1));
    await appendCorrection(file, record(3, null));
    const text = await readFile(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.trimEnd().split('\n')).toHaveLength(2);
    const log = await readCorrections(file);
    expect(log.warnings).toEqual([]);
    expect(log.records.map((r) => [r.label, r.predicted])).toEqual([
      [7, 1],
      [3, null],
    ]);
  });

  test('told not to create folders (the server, whose store folder existed at start), an append to a folder that is gone fails with ENOENT and makes nothing', async () => {
    // Given a store in a folder that has been removed (a run folder deleted while serving)
    const folder = path.join(dir, 'gone');
    const file = path.join(folder, 'corrections.jsonl');
    await appendCorrection(file, record(1, 2));
    await rm(folder, { recursive: true });
    // When a correction is appended without creating folders
    const failed = await appendCorrection(file, record(3, 4), { createFolders: false }).then(
      () => 'appended',
      (error: NodeJS.ErrnoException) => error.code,
    );
    // Then it fails with ENOENT and the folder is not made again
    expect(failed).toBe('ENOENT');
    await expect(stat(folder)).rejects.toMatchObject({ code: 'ENOENT' });
    // (by default missing folders are made, as for a new --corrections path)
    await appendCorrection(file, record(5, 6));
    expect((await readCorrections(file)).records.map((r) => r.label)).toEqual([5]);
  });

  test('a torn last line is skipped with a warning; the next append ends it first, so the new record is whole', async () => {
    // Given a store whose last write was cut short by a crash
    const file = path.join(dir, 'torn.jsonl');
    await appendCorrection(file, record(2, 5));
    const whole = JSON.stringify(record(4, 9));
    await appendFile(file, whole.slice(0, 100));
    // When it is read
    const torn = await readCorrections(file);
    // Then the good record is there and the torn line is reported, not fatal
    expect(torn.records.map((r) => r.label)).toEqual([2]);
    expect(torn.warnings).toEqual(['torn.jsonl:2: torn last line (a write did not finish), skipped']);
    // When another correction is appended after the crash
    await appendCorrection(file, record(6, 0));
    const after = await readCorrections(file);
    // Then it is read whole; the torn line stays skipped (now an unreadable middle line)
    expect(after.records.map((r) => r.label)).toEqual([2, 6]);
    expect(after.warnings).toEqual(['torn.jsonl:2: unreadable line (not JSON), skipped']);
  });

  test('lines that parse but are not corrections are skipped with the reason; a missing file is a UserError', async () => {
    const file = path.join(dir, 'odd.jsonl');
    await writeFile(file, `${JSON.stringify(record(1, 2))}\n${JSON.stringify({ ...record(1, 2), label: 11 })}\n${JSON.stringify({ ...record(1, 2), image: [1] })}\n\n`);
    const log = await readCorrections(file);
    expect(log.records).toHaveLength(1);
    expect(log.warnings).toEqual(['odd.jsonl:2: label 11 is not 0–9, skipped', 'odd.jsonl:3: image is not 784 values, skipped']);
    await expect(readCorrections(path.join(dir, 'missing.jsonl'))).rejects.toBeInstanceOf(UserError);
    // naming the flag that gave the file: --file of `digits corrections`, --extra of `digits train` (which has no --file)
    await expect(readCorrections(path.join(dir, 'missing.jsonl'))).rejects.toMatchObject({ where: { flag: 'file' }, hint: expect.stringMatching(/pass the file with --file\.$/) });
    await expect(readCorrections(path.join(dir, 'missing.jsonl'), { flag: 'extra' })).rejects.toMatchObject({ where: { flag: 'extra' }, hint: expect.stringMatching(/pass the file with --extra\.$/) });
    // under a file (afile/x.jsonl): that file is named, not the system's ENOTDIR text
    await writeFile(path.join(dir, 'afile'), 'x');
    await expect(readCorrections(path.join(dir, 'afile', 'x.jsonl'))).rejects.toMatchObject({ message: `there is no corrections file ${path.join(dir, 'afile', 'x.jsonl')}: ${path.join(dir, 'afile')} is a file, not a folder`, where: { file: path.join(dir, 'afile'), flag: 'file' } });
  });

  test('a file of other lines and not one correction (a ledger passed by mistake) is a UserError naming it, not a list of warnings', async () => {
    const file = path.join(dir, 'ledger.jsonl');
    await writeFile(file, `${JSON.stringify({ file: 'a.csv', sha256: 'x' })}\n${JSON.stringify({ file: 'b.csv', sha256: 'y' })}\n`);
    await expect(readCorrections(file)).rejects.toMatchObject({ message: expect.stringMatching(/is not a corrections file: none of its 2 lines is a correction \(ledger\.jsonl:1: it has no "label"/), where: { file, line: 1 } });
  });

  test('a record of an unknown format version is skipped with a warning naming file and line; a file of nothing else is refused', async () => {
    // Given a store with a record of a format version this digits does not read between two of its own
    const file = path.join(dir, 'versions.jsonl');
    await writeFile(file, [record(1, 2), { ...record(3, 4), v: 2 }, record(5, 6)].map((r) => JSON.stringify(r)).join('\n') + '\n');
    // Then it is not read as a version-1 record, and the warning names the line
    const log = await readCorrections(file);
    expect(log.records.map((r) => r.label)).toEqual([1, 5]);
    expect(log.warnings).toEqual([expect.stringMatching(/^versions\.jsonl:2: a record of format version 2, which this digits does not read .*, skipped$/)]);
    // And a file of only such records is refused as such, not as "not a corrections file"
    const newer = path.join(dir, 'newer.jsonl');
    await writeFile(newer, [{ ...record(3, 4), v: 2 }, { ...record(3, 4), v: 2 }].map((r) => JSON.stringify(r)).join('\n') + '\n');
    await expect(readCorrections(newer)).rejects.toMatchObject({ message: expect.stringMatching(/holds only corrections of another format version \(newer\.jsonl:1: /), where: { file: newer, line: 1 } });
  });

  test('a folder given as the file is said to be one (it was the system\'s EISDIR), with its corrections.jsonl suggested when it has one', async () => {
    const folder = path.join(dir, 'a-folder');
    await mkdir(folder);
    await expect(readCorrections(folder)).rejects.toMatchObject({ message: `${folder} is a folder, not a corrections file`, where: { file: folder, flag: 'file' }, hint: expect.stringMatching(/^Give --file the corrections file itself/) });
    await appendCorrection(path.join(folder, 'corrections.jsonl'), record(1, 2));
    await expect(readCorrections(folder, { flag: 'extra' })).rejects.toMatchObject({ where: { flag: 'extra' }, hint: `Did you mean --extra ${path.join(folder, 'corrections.jsonl')}?` });
  });

  test('100 concurrent appends give 100 whole lines', async () => {
    const file = path.join(dir, 'concurrent.jsonl');
    await Promise.all(Array.from({ length: 100 }, (_, i) => appendCorrection(file, record(i % 10, (i + 1) % 10, i))));
    const log = await readCorrections(file);
    expect(log.warnings).toEqual([]);
    expect(log.records).toHaveLength(100);
    expect(new Set(log.records.map((r) => r.image[0])).size).toBe(100);
  });

  test('parseCorrection checks label, predicted and image, and stores pixels as 0–255 integers', () => {
    const image = oneAsPixels();
    expect(parseCorrection({ image: image.map((v) => v / 255), label: 1, predicted: 7 })).toMatchObject({ label: 1, predicted: 7, image });
    for (const body of [null, [], { image, label: 10 }, { image, label: '3' }, { image, label: 3, predicted: -1 }, { image: image.slice(1), label: 3 }]) {
      expect(() => parseCorrection(body)).toThrow(InputError);
    }
    // a blank image (all one value) is refused: it teaches nothing as a training row
    expect(() => parseCorrection({ image: new Array(784).fill(0), label: 3, predicted: 5 })).toThrow(/^image is blank/);
  });
});

describe('back into training', () => {
  test('correctionsAsImageSet gives [0,1] floats with the given labels; mergeImageSets appends them as new training rows', async () => {
    const file = path.join(dir, 'train.jsonl');
    await appendCorrection(file, record(3, 8, 255));
    await appendCorrection(file, record(5, 6, 51));
    await appendFile(file, '{"v":1,"lab');
    const warnings: string[] = [];
    const set = await correctionsAsImageSet(file, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toHaveLength(1);
    expect(set).toMatchObject({ count: 2, size: 28, scale: 1 });
    expect(set.images).toBeInstanceOf(Float32Array);
    expect(Array.from(set.labels)).toEqual([3, 5]);
    expect(set.images[0]).toBe(1);
    expect(set.images[784]).toBeCloseTo(0.2, 6);
    // A uint8 dataset of 3 rows + 2 corrections: 5 rows, uint8 kept, corrections as rows 3 and 4
    const base = { images: new Uint8Array(3 * 784).fill(9), labels: Uint8Array.from([0, 1, 2]), count: 3, size: 28, scale: 255 as const };
    const merged = mergeImageSets(base, set);
    expect(merged.extraRows).toEqual([3, 4]);
    expect(merged.data.images).toBeInstanceOf(Uint8Array);
    expect(Array.from(merged.data.labels)).toEqual([0, 1, 2, 3, 5]);
    expect(merged.data.images[3 * 784]).toBe(255);
    expect(merged.data.images[4 * 784]).toBe(51);
    expect(merged.data.images[0]).toBe(9);
  });
});

describe('digits corrections', () => {
  const runCommand = (argv: string[]) => runInProcess(CorrectionsCommand, argv, repo);

  test('counts per label, predicted → given confusions, the digits drawn, a PNG grid, and JSON', async () => {
    const file = path.join(dir, 'cmd.jsonl');
    for (const [label, predicted] of [[7, 1], [7, 1], [4, 9], [3, null], [5, 5]] as const) await appendCorrection(file, record(label, predicted, 200));
    await appendFile(file, '{"torn');
    const png = path.join(dir, 'grid.png');
    const text = await runCommand(['--file', file, '--png', png]);
    expect(text.exit).toBe(0);
    expect(text.stderr).toMatch(/warning: cmd\.jsonl:6: torn last line/);
    expect(text.stdout).toMatch(/Corrections in .*cmd\.jsonl: 5/);
    // one saved with the digit the ensemble said: counted apart, not listed as a confusion
    expect(text.stdout).not.toMatch(/ {2}5 → 5 /);
    expect(text.stdout).toMatch(/1 saved with the digit the ensemble said: training rows, not confusions/);
    expect(text.stdout).toMatch(/ {2}1 → 7 +2/);
    expect(text.stdout).toMatch(/ {2}9 → 4 +1/);
    expect(text.stdout).toMatch(/1 without a recorded prediction/);
    expect(text.stdout).toMatch(/\? → 3/);
    // the matrix is laid out as the dashboard's: the true 7 row has 2 in the predicted-1 column
    expect(text.stdout).toContain('Matrix: rows = true digit (given), columns = predicted');
    expect(text.stdout).toMatch(/\n {2}7 {3} {3}· {3}2 {3}·/);
    const image = PNG.sync.read(await readFile(png));
    expect(image.width).toBeGreaterThan(4 * 28 * 4 - 1);
    const json = await runCommand(['--file', file, '--json']);
    // (NDJSON: the torn line's warning as a line of its own, the result last)
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ type: 'warning', message: expect.stringMatching(/cmd\.jsonl:6: torn last line/) });
    const summary = lines.at(-1) as unknown as ReturnType<typeof summarizeCorrections> & { warnings: string[] };
    expect(summary.count).toBe(5);
    expect(summary.confirmed).toBe(1);
    expect(summary.pairs.map((p) => `${p.predicted}>${p.label}`)).toEqual(['1>7', '9>4']);
    expect(summary.perLabel[7]).toBe(2);
    // rows the given (true) digit, as evaluation.json's confusion and the text matrix
    expect(summary.confusion[7]![1]).toBe(2);
    expect(summary.pairs[0]).toEqual({ predicted: 1, label: 7, count: 2 });
    expect(summary.warnings).toHaveLength(1);
    const missing = await runCommand(['--file', path.join(dir, 'none.jsonl')]);
    expect(missing.exit).not.toBe(0);
    expect(missing.stderr).toMatch(/no corrections file[\s\S]*hint:/);
    // a run whose pad saved nothing yet: an empty list, exit 0, as runs and submissions say theirs
    const run = path.join(dir, 'quiet-run');
    await mkdir(run, { recursive: true });
    await writeFile(path.join(run, 'run.json'), '{}');
    const empty = await runCommand(['--run', run]);
    expect(empty.exit).toBe(0);
    expect(empty.stdout).toMatch(/^No corrections in .*quiet-run\/corrections\.jsonl yet: the drawing pad of `digits serve --run .*quiet-run` saves them\.\n$/);
    const emptyJson = JSON.parse((await runCommand(['--run', run, '--json'])).stdout) as { count: number };
    expect(emptyJson.count).toBe(0);
    // (a folder that is no run is still an error)
    expect((await runCommand(['--run', path.join(dir, 'no-run')])).exit).not.toBe(0);
  });

  test('--run not there, or not a run, is said of --run (it blamed --file, which was not given)', async () => {
    // Given a path where there is nothing, and a folder that is no run
    const missing = await runCommand(['--run', path.join(dir, 'nope')]);
    const notRun = path.join(dir, 'not-a-run');
    await mkdir(notRun);
    const folder = await runCommand(['--run', notRun]);
    // Then each names --run, what is wrong, and `digits runs`
    expect(missing.exit).toBe(2);
    expect(missing.stderr).toMatch(new RegExp(`^error: no run at ${path.join(dir, 'nope')} \\(flag --run\\)\n  hint: Name a run folder \\(\`digits runs\` lists them\\)`));
    expect(folder.exit).toBe(2);
    expect(folder.stderr).toMatch(/^error: .*not-a-run is not a run folder \(it has no run\.json\) \(flag --run\)\n {2}hint: .*`digits runs`/);
    expect(missing.stderr + folder.stderr).not.toMatch(/flag --file/);
  });

  test('--png with --count 0 is refused naming both (a file of corrections said "No corrections: no PNG written")', async () => {
    // Given a store with corrections
    const file = path.join(dir, 'count0.jsonl');
    await appendCorrection(file, record(7, 1));
    const png = path.join(dir, 'count0.png');
    // When the grid is asked for with no digit in it
    const outcome = await runCommand(['--file', file, '--count', '0', '--png', png]);
    // Then it is refused, and no file was written
    expect(outcome.exit).toBe(2);
    expect(outcome.stderr).toMatch(/^error: --png with --count 0 would draw no digit.*\(flag --count\)\n {2}hint: Drop --png, or give --count/);
    await expect(stat(png)).rejects.toMatchObject({ code: 'ENOENT' });
    // And --count 0 alone still shows the counts
    const counts = await runCommand(['--file', file, '--count', '0']);
    expect(counts.exit).toBe(0);
    expect(counts.stdout).toMatch(/Corrections in .*count0\.jsonl: 1/);
  });
});
