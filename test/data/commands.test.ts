import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../helpers/run-command.js';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import DataImport from '../../src/commands/data/import.js';
import DataInspect from '../../src/commands/data/inspect.js';
import DataPractice from '../../src/commands/data/practice.js';
import DataSplit from '../../src/commands/data/split.js';
import Run from '../../src/commands/run.js';
import { competition, csv, removeTempDirs, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

afterAll(removeTempDirs);
afterEach(() => {
  vi.restoreAllMocks();
});

const run = (command: Parameters<typeof runCommand>[0], argv: string[]) => runCommand(command, argv, root);

describe('data commands, as a user runs them', () => {
  test('practice → import → split → inspect, with --json', async () => {
    const dir = await tempDir();
    const out = join(dir, 'uniform');
    const practice = await run(DataPractice, ['--recipe', 'uniform', '--train', '30', '--test', '12', '--out', out, '--json']);
    expect(practice.exit).toBe(0);
    expect(JSON.parse(practice.stdout)).toMatchObject({ recipe: 'uniform', trainRows: 30, testRows: 12, answers: `${out}-answers.csv` });

    const imported = await run(DataImport, [out, '--json']);
    expect(imported.exit).toBe(0);
    // 30 rows hold a few of each digit: a warning event first (NDJSON), the result last
    const lines = imported.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.slice(0, -1)).toEqual([{ type: 'warning', message: expect.stringMatching(/^few training rows for digits 0: \d/) }]);
    const report = lines.at(-1);
    expect(report.warnings).toEqual([lines[0].message]);
    expect(report).toMatchObject({ width: 28, scale: 1, orientation: 'as-is', reused: null, ids: { from: 'sample-submission', count: 12, first: '1', last: '12' } });
    expect(report.detected.train.label.value.column).toBe(784);

    const again = await run(DataImport, [out]);
    expect(again.stdout).toMatch(/^Dataset up to date/);

    const split = await run(DataSplit, ['--data', out, '--folds', '3', '--json']);
    // (the same few-rows warning as an event first, the saved split last)
    const splitLines = split.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(splitLines.slice(0, -1)).toEqual([{ type: 'warning', message: expect.stringMatching(/^few training rows for digits 0: \d/) }]);
    expect(splitLines.at(-1)).toMatchObject({ name: 'kfold3', rows: 30, warnings: [splitLines[0].message] });

    const inspect = await run(DataInspect, ['--data', out, '--count', '4', '--png', join(dir, 'grid.png'), '--json']);
    const stats = JSON.parse(inspect.stdout);
    expect(stats.train.rows).toBe(30);
    expect(stats.splits).toEqual(['kfold3']);
    expect(stats.samples.rows).toHaveLength(4);

    const text = await run(DataInspect, ['--data', out, '--count', '2']);
    expect(text.stdout).toContain('Class balance (train)');
    expect(text.stdout).toMatch(/[ ░▒▓█]{28}/);
  });

  test('bad input exits non-zero with what, where and a hint on stderr', async () => {
    const dir = await competition({ 'train.csv': csv('label,a,b,c,d', '1,0,0,0,0', '11,0,0,0,0') });
    const result = await run(DataImport, [dir]);
    expect(result.exit).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`error: label "11" is not an integer 0–9 (${join(dir, 'train.csv')}:3:1)`);
    expect(result.stderr).toMatch(/hint: .*--label-column/);
  });

  test('flag values are checked before any work', async () => {
    const dir = await tempDir();
    const result = await run(DataPractice, ['--recipe', 'clean', '--sigma', '0.2', '--out', join(dir, 'c')]);
    expect(result.exit).toBe(2);
    expect(result.stderr).toMatch(/error: the clean recipe takes no σ \(flag --sigma\)/);
  });

  test("Kaggle's zip given to data import or run --data: said at once, with the folder to unzip it into (no 'no test.csv' warning first)", async () => {
    // Given a folder holding only Kaggle's download, digit-recognizer.zip (a zip by its first bytes)
    const dir = await competition({ 'digit-recognizer.zip': new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 0, 0]) });
    const zip = join(dir, 'digit-recognizer.zip');
    const folder = join(dir, 'digit-recognizer');
    // When it is given to data import
    const imported = await run(DataImport, [zip]);
    // Then the zip is named, with one command line that unpacks it and imports the folder; no warning ahead of it
    expect(imported.exit).toBe(2);
    expect(imported.stderr).not.toMatch(/warning/);
    expect(imported.stderr).toContain(`error: digit-recognizer.zip is a zip archive, not a CSV text file (${zip})`);
    expect(imported.stderr).toContain(`hint: Unpack it into a folder and use that folder: unzip -d ${folder} ${zip} && digits data import ${folder}.`);
    // When it is given to run --data
    const ran = await run(Run, ['--data', zip]);
    // Then the same: a zip archive, unpack it into a folder and run on that (it was "--data takes the competition's folder", pointing at the folder holding only the zip)
    expect(ran.exit).toBe(2);
    expect(ran.stderr).toContain(`error: digit-recognizer.zip is a zip archive; --data takes the competition's folder (${zip}, flag --data)`);
    expect(ran.stderr).toContain(`hint: Unpack it into a folder and use that folder: unzip -d ${folder} ${zip} && digits run --data ${folder}.`);
    // Given the zip beside its unpacked CSVs, and a cache holding test rows
    await writeFile(join(dir, 'train.csv'), csv('label,a,b,c,d', '1,0,0,0,0', '2,0,0,0,0'));
    await writeFile(join(dir, 'test.csv'), csv('a,b,c,d', '0,0,0,0'));
    expect((await run(DataImport, [dir, '--orientation', 'as-is'])).exit).toBe(0);
    // Then the zip is still what is named (not "would drop the cached test rows"), and the folder beside it offered too
    const again = await run(DataImport, [zip]);
    expect(again.stderr).toMatch(/^error: digit-recognizer\.zip is a zip archive/);
    expect(again.stderr).toContain(`(or, as its folder holds a train.csv already: digits data import ${dir})`);
  });

  test('the summary counts ids that are not in order instead of showing first … last as a range', async () => {
    // Given a sample submission listing its ids shuffled (no id column in test.csv), and one listing 2 before 10
    const train = csv('label,a,b,c,d', '1,0,9,0,0', '2,0,0,0,200');
    const test = csv('a,b,c,d', '0,0,0,0', '1,1,1,1', '2,2,2,2');
    const shuffled = await competition({ 'train.csv': train, 'test.csv': test, 'sample_submission.csv': csv('ImageId,Label', '34,0', '200,0', '35,0') });
    const ordered = await competition({ 'train.csv': train, 'test.csv': test, 'sample_submission.csv': csv('ImageId,Label', '2,0', '9,0', '10,0') });
    // When each is imported
    const text = await run(DataImport, [shuffled, '--orientation', 'as-is']);
    const json = await run(DataImport, [shuffled, '--orientation', 'as-is', '--json']);
    const inOrder = await run(DataImport, [ordered, '--orientation', 'as-is']);
    // Then the shuffled ids are counted and said not to be in order (they were "ids 34 … 35" until session 39); ordered ones stay a range
    expect(text.stdout).toMatch(/^ {2}ids {10}3 ids from sample_submission\.csv \(not in order: first 34, last 35\); submission header ImageId,Label$/m);
    expect(JSON.parse(json.stdout.trim().split('\n').at(-1)!).ids).toEqual({ from: 'sample-submission', count: 3, first: '34', last: '35', inOrder: false });
    expect(inOrder.stdout).toMatch(/^ {2}ids {10}2 … 10 from sample_submission\.csv; submission header ImageId,Label$/m);
  });

  test("the summary says train.csv's id column is skipped", async () => {
    // Given a competition laid out id,label,pixel0,… (test.csv id,pixel0,…, the sample id,label)
    const dir = await competition({
      'train.csv': csv('id,label,pixel0,pixel1,pixel2,pixel3', '1,1,0,9,0,0', '2,2,0,0,0,200'),
      'test.csv': csv('id,pixel0,pixel1,pixel2,pixel3', '7,0,0,0,0'),
      'sample_submission.csv': csv('id,label', '7,0'),
    });
    // When it is imported
    const result = await run(DataImport, [dir, '--orientation', 'as-is']);
    // Then it imports, and the summary names the id column as skipped
    expect(result.exit).toBe(0);
    expect(result.stdout).toMatch(/^ {15}id column: column 1 "id", skipped \(its header names the rows' ids\)$/m);
    expect(result.stdout).toMatch(/^ {2}train {8}train\.csv: 2 rows × 6 columns$/m);
  });

  test('importing train.csv alone never silently drops the cached test rows: an error, or --replace with a warning', async () => {
    // Given a competition imported with its test.csv (2 test rows)
    const header = 'label,a,b,c,d';
    const dir = await competition({ 'train.csv': csv(header, '1,0,0,0,0', '2,0,0,0,0'), 'test.csv': csv('a,b,c,d', '0,0,0,0', '1,1,1,1') });
    expect((await run(DataImport, [dir, '--orientation', 'as-is'])).exit).toBe(0);
    const train = join(dir, 'train.csv');
    // When train.csv is imported alone into the same cache
    const refused = await run(DataImport, [train, '--orientation', 'as-is']);
    // Then it is refused, naming the rows it would drop and both ways out
    expect(refused.exit).toBe(2);
    expect(refused.stderr).toMatch(/error: .* holds 2 test rows, and importing train\.csv without a test\.csv would drop them/);
    expect(refused.stderr).toMatch(/hint: .*test\.csv.*--replace/);
    // When --replace says so: it imports, and warns that there are no test rows now
    const replaced = await run(DataImport, [train, '--orientation', 'as-is', '--replace']);
    expect(replaced.exit).toBe(0);
    expect(replaced.stderr).toMatch(/warning: no test\.csv/);
    expect(replaced.stdout).toMatch(/Imported 2 training rows and 0 test rows/);
  });
});
