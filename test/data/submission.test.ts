import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { link, mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import SubmissionsCommand from '../../src/commands/submissions.js';
import {
  MAX_SUBMISSION_NAME,
  type LedgerEntry,
  appendLedger,
  checkSubmissionsDir,
  commitSubmission,
  listSubmissions,
  prepareSubmission,
  recoverKilledSubmits,
  readLedger,
  safeFileName,
  writeSubmission,
} from '../../src/data/submission.js';
import { type ValidateSubmissionOptions, readAnswerLabels, readIdLabelCsv, scoreAgainstAnswers, splitCsvLine, validateSubmission } from '../../src/data/submission-csv.js';
import { UserError } from '../../src/errors.js';
import { readAnswers } from '../../src/services/evaluate.js';
import { csv, expectUserError, removeTempDirs, tempDir } from './helpers.js';
import { runCommand } from '../helpers/run-command.js';
import { deadPid } from '../helpers/dead-pid.js';
import { SKIP_REASON, canMount, mountSmallDisk, type SmallDisk } from '../helpers/small-disk.js';

afterAll(removeTempDirs);
afterEach(() => {
  vi.restoreAllMocks();
});

const NOW = new Date('2026-11-21T10:15:00.123Z');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('writeSubmission', () => {
  test('Kaggle default: ImageId,Label with ids 1..N, named by time and run, atomic, validated round trip', async () => {
    // Given predictions for four test rows and no sample_submission
    const dir = join(await tempDir('digits-sub-'), 'submissions');
    // When it is written
    const written = await writeSubmission({ dir, name: 'quick-run', labels: Uint8Array.from([7, 2, 1, 0]), now: NOW });
    // Then the file is in the competition's format, named <UTC time>-<name>.csv
    expect(written.file).toBe(join(dir, '20261121-101500-quick-run.csv'));
    const text = await readFile(written.file, 'utf8');
    expect(text).toBe(csv('ImageId,Label', '1,7', '2,2', '3,1', '4,0'));
    expect(written).toMatchObject({ rows: 4, sha256: sha256(text) });
    // and Kaggle's checks pass
    expect(await validateSubmission(written.file, { expectedRows: 4 })).toEqual({ rows: 4, header: ['ImageId', 'Label'] });

    // When a second one is written in the same second with the same name
    const again = await writeSubmission({ dir, name: 'quick-run', labels: [1, 1, 1, 1], now: NOW });
    // Then it does not replace the first, and no temp file is left behind
    expect(again.file).toBe(join(dir, '20261121-101500-quick-run-2.csv'));
    expect(await readFile(written.file, 'utf8')).toBe(text);
    expect((await readdir(dir)).sort()).toEqual(['20261121-101500-quick-run-2.csv', '20261121-101500-quick-run.csv']);
  });

  test("the competition's header and ids from sample_submission.csv, in order; odd names made safe", async () => {
    const dir = await tempDir('digits-sub-');
    const written = await writeSubmission({ dir, name: 'my run/v2', header: ['id', 'digit'], ids: ['a17', 'b"2', 'c,3'], labels: [3, 4, 5], now: NOW });
    expect(written.file).toBe(join(dir, '20261121-101500-my-run-v2.csv'));
    expect(await readFile(written.file, 'utf8')).toBe(csv('id,digit', 'a17,3', '"b""2",4', '"c,3",5'));
    await validateSubmission(written.file, { expectedRows: 3, ids: ['a17', 'b"2', 'c,3'], header: ['id', 'digit'] });
    expect(safeFileName('../..')).toBe('submission');
    // Accented letters and other scripts are written in Latin letters, not dropped (`Caf` until session 44)
    expect(safeFileName('Café crème')).toBe('Cafe-creme');
    expect(safeFileName('my sub.csv')).toBe('my-sub');
    expect(safeFileName('final.CSV ')).toBe('final');
    expect(safeFileName('.csv', '')).toBe('');
    expect(safeFileName('Straße Ærø')).toBe('Strasse-AEro');
    expect(safeFileName('попытка 2')).toBe('popytka-2');
    expect(splitCsvLine('"a,""b""",7')).toEqual(['a,"b"', '7']);
  });

  test(`a long name is cut to ${MAX_SUBMISSION_NAME} characters, so the file name stays a legal one`, async () => {
    const dir = await tempDir('digits-sub-');
    const written = await writeSubmission({ dir, name: 'a'.repeat(300), labels: [1], now: NOW });
    expect(written.file).toBe(join(dir, `20261121-101500-${'a'.repeat(MAX_SUBMISSION_NAME)}.csv`));
  });

  test('wrong inputs: ids and labels of different lengths (user), a label that is no digit (bug)', async () => {
    const dir = await tempDir('digits-sub-');
    await expectUserError(writeSubmission({ dir, name: 'x', ids: ['1', '2'], labels: [1] }), { message: /1 predictions for 2 test ids/ });
    await expectUserError(writeSubmission({ dir, name: 'x', header: ['ImageId', 'Label', 'Extra'], labels: [1] }), { message: /two columns/ });
    await expect(writeSubmission({ dir, name: 'x', labels: [10] })).rejects.toThrow(RangeError);
  });
});

describe('validateSubmission finds what Kaggle would reject, with line and column', () => {
  const ok = ['ImageId,Label', '1,7', '2,2', '3,1'];
  const cases: Array<{ name: string; text: string; options?: Partial<ValidateSubmissionOptions>; message: RegExp; line: number; column?: number }> = [
    { name: 'wrong header name', text: csv('ImageId,Digit', '1,7', '2,2', '3,1'), message: /header should be "ImageId,Label"; column 2 is "Digit"/, line: 1, column: 2 },
    { name: 'header of one column', text: csv('ImageId', '1,7', '2,2', '3,1'), message: /column 2 is missing/, line: 1, column: 2 },
    { name: 'header with an extra column', text: csv('ImageId,Label,Prob', '1,7', '2,2', '3,1'), message: /extra column "Prob"/, line: 1, column: 3 },
    { name: "the competition's own header expected", text: csv(...ok), options: { header: ['id', 'label'] }, message: /should be "id,label"; column 1 is "ImageId"/, line: 1, column: 1 },
    { name: 'empty file', text: '', message: /empty/, line: 1 },
    { name: 'blank line in the middle', text: csv('ImageId,Label', '1,7', '', '2,2', '3,1'), message: /blank line/, line: 3 },
    { name: 'blank line at the end (two newlines)', text: `${csv(...ok)}\n`, message: /blank line/, line: 5 },
    { name: 'ragged row: three cells', text: csv('ImageId,Label', '1,7', '2,2,0.9', '3,1'), message: /3 columns, expected 2/, line: 3, column: 3 },
    { name: 'ragged row: one cell', text: csv('ImageId,Label', '1,7', '2', '3,1'), message: /1 column, expected 2/, line: 3, column: 2 },
    { name: 'duplicate id', text: csv('ImageId,Label', '1,7', '1,2', '3,1'), message: /id 1 appears twice \(first on line 2\)/, line: 3, column: 1 },
    { name: 'ids out of order', text: csv('ImageId,Label', '1,7', '3,1', '2,2'), message: /out of order: expected 2, found 3/, line: 3, column: 1 },
    { name: 'unknown id', text: csv('ImageId,Label', '1,7', '2,2', '30,1'), message: /"30" is not a test id \(expected 3\)/, line: 4, column: 1 },
    { name: 'ids of the sample submission', text: csv(...ok), options: { ids: ['1', '2', '4'] }, message: /"3" is not a test id \(expected 4\)/, line: 4, column: 1 },
    { name: 'label 10', text: csv('ImageId,Label', '1,7', '2,10', '3,1'), message: /label "10" is not an integer 0–9/, line: 3, column: 2 },
    { name: 'label 3.0', text: csv('ImageId,Label', '1,7', '2,3.0', '3,1'), message: /label "3.0"/, line: 3, column: 2 },
    { name: 'label -1', text: csv('ImageId,Label', '1,7', '2,-1', '3,1'), message: /label "-1"/, line: 3, column: 2 },
    { name: 'empty label', text: csv('ImageId,Label', '1,7', '2,', '3,1'), message: /label ""/, line: 3, column: 2 },
    { name: 'too few rows', text: csv('ImageId,Label', '1,7', '2,2'), message: /2 rows, expected 3: the first missing id is 3/, line: 4 },
    { name: 'too many rows', text: csv(...ok, '4,4'), message: /extra row: the competition has 3 test rows/, line: 5, column: 1 },
  ];

  test.each(cases)('$name', async ({ text, options, message, line, column }) => {
    const file = join(await tempDir('digits-sub-'), 'submission.csv');
    await writeFile(file, text);
    await expectUserError(validateSubmission(file, { expectedRows: 3, ...options }), { message, file: 'submission.csv', line, ...(column === undefined ? {} : { column }) });
  });

  test('CRLF line ends, a UTF-8 BOM and no final newline are accepted', async () => {
    const file = join(await tempDir('digits-sub-'), 'windows.csv');
    await writeFile(file, `\ufeff${ok.join('\r\n')}`);
    expect(await validateSubmission(file, { expectedRows: 3 })).toMatchObject({ rows: 3 });
  });

  test('a missing file says so', async () => {
    await expectUserError(validateSubmission(join(await tempDir(), 'nope.csv'), { expectedRows: 1 }), { message: /cannot read the submission .*ENOENT/, file: 'nope.csv' });
  });
});

describe('the ledger', () => {
  const entry = (file: string, extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
    file,
    sha256: 'x',
    createdAt: '2026-11-21T10:15:00.000Z',
    run: '/work/runs/quick-20261121-100000',
    members: [
      { name: 'seed002-1', checkpoint: '/work/runs/quick-20261121-100000/seed002-1/best' },
      { name: 'deotte-2', checkpoint: '/work/runs/quick-20261121-100000/deotte-2/best' },
    ],
    voting: 'soft',
    tta: 8,
    validation: { accuracy: 0.9912, logLoss: 0.0311 },
    ...extra,
  });

  test('append → read back, oldest first; files inside the folder stored relative to it', async () => {
    const dir = join(await tempDir('digits-sub-'), 'submissions');
    // Given no ledger yet
    expect(await readLedger(dir)).toEqual([]);
    // When two entries are appended
    const ledger = await appendLedger(dir, entry(join(dir, 'a.csv')));
    await appendLedger(dir, entry('/elsewhere/b.csv', { voting: 'hard', tta: 1, score: { accuracy: 0.98, answers: '/c/answers.csv' } }));
    // Then the ledger holds one JSON line each
    expect(ledger).toBe(join(dir, 'ledger.jsonl'));
    expect((await readFile(ledger, 'utf8')).split('\n')).toHaveLength(3);
    const entries = await readLedger(dir);
    expect(entries).toEqual([entry('a.csv'), entry('/elsewhere/b.csv', { voting: 'hard', tta: 1, score: { accuracy: 0.98, answers: '/c/answers.csv' } })]);
  });

  test('a damaged line is a UserError naming the ledger line', async () => {
    const dir = await tempDir('digits-sub-');
    await appendLedger(dir, entry('a.csv'));
    await writeFile(join(dir, 'ledger.jsonl'), `${await readFile(join(dir, 'ledger.jsonl'), 'utf8')}{"file": "b.csv",\n`);
    await expectUserError(readLedger(dir), { message: /not JSON/, file: 'ledger.jsonl', line: 2 });
  });

  test('a torn last line (a crash mid-append): the next append ends it, and the reader skips it with a warning', async () => {
    // Given a ledger whose last append was cut short
    const dir = await tempDir('digits-sub-');
    await appendLedger(dir, entry('a.csv'));
    const file = join(dir, 'ledger.jsonl');
    await writeFile(file, `${await readFile(file, 'utf8')}{"file":"b.csv","sha256":"x","vo`);
    // Then reading it skips the fragment and says so
    const warnings: string[] = [];
    expect(await readLedger(dir, { onWarning: (w) => warnings.push(w) })).toEqual([entry('a.csv')]);
    expect(warnings).toEqual(['ledger.jsonl:2: torn last line (a write did not finish), skipped']);
    // When a record is appended
    await appendLedger(dir, entry('c.csv'));
    // Then it starts on a line of its own, and is read back after the skipped fragment
    expect((await readFile(file, 'utf8')).split('\n')[2]).toBe(JSON.stringify(entry('c.csv')));
    warnings.length = 0;
    expect(await readLedger(dir, { onWarning: (w) => warnings.push(w) })).toEqual([entry('a.csv'), entry('c.csv')]);
    expect(warnings).toEqual(['ledger.jsonl:2: torn line (a write did not finish), skipped']);
    // and a line damaged otherwise in the middle stays an error naming it
    await writeFile(file, `${JSON.stringify(entry('a.csv'))}\n{"file":"b.csv"}}\n${JSON.stringify(entry('c.csv'))}\n`);
    await expectUserError(readLedger(dir), { message: /not JSON/, file: 'ledger.jsonl', line: 2 });
  });

  test.each([
    { name: 'no createdAt', change: (e: Record<string, unknown>) => delete e.createdAt, message: /has no "createdAt"/ },
    { name: 'no run', change: (e: Record<string, unknown>) => delete e.run, message: /has no "run"/ },
    { name: 'no members', change: (e: Record<string, unknown>) => delete e.members, message: /has no "members"/ },
    { name: 'a member without checkpoint', change: (e: Record<string, unknown>) => (e.members = [{ name: 'm' }]), message: /member without a name or checkpoint/ },
    { name: 'no tta', change: (e: Record<string, unknown>) => delete e.tta, message: /has no "tta"/ },
    { name: 'a validation without figures', change: (e: Record<string, unknown>) => (e.validation = {}), message: /"validation" without accuracy/ },
  ])('a ledger line with $name is a UserError naming its line', async ({ change, message }) => {
    const dir = await tempDir('digits-sub-');
    const damaged = { ...entry('b.csv') } as unknown as Record<string, unknown>;
    change(damaged);
    await writeFile(join(dir, 'ledger.jsonl'), `${JSON.stringify(entry('a.csv'))}\n${JSON.stringify(damaged)}\n`);
    await expectUserError(readLedger(dir), { message, file: 'ledger.jsonl', line: 2, hint: /Fix or delete that line/ });
  });

  test('a file as the folder, or a folder as the ledger: UserErrors naming them', async () => {
    const root = await tempDir('digits-sub-');
    const notADir = join(root, 'a-file');
    await writeFile(notADir, 'x');
    await expectUserError(readLedger(notADir), { message: /is a file, not a folder/, file: 'a-file', flag: 'dir' });
    await expectUserError(appendLedger(notADir, entry('a.csv')), { message: /is a file, not a folder/, file: 'a-file', flag: 'dir' });
    await expectUserError(writeSubmission({ dir: notADir, name: 'x', labels: [1] }), { message: /is a file, not a folder/, flag: 'dir' });
    const dir = join(root, 'subs');
    await mkdir(join(dir, 'ledger.jsonl'), { recursive: true });
    await expectUserError(readLedger(dir), { message: /is a folder; the ledger is a file/, file: 'ledger.jsonl' });
    await expectUserError(appendLedger(dir, entry('a.csv')), { message: /is a folder; the ledger is a file/, file: 'ledger.jsonl' });
  });

  test('a file above the folder (--dir afile/sub): the error names that file, not the folder that does not exist', async () => {
    // Given a file, and a submissions folder asked for under it
    const root = await tempDir('digits-sub-');
    const afile = join(root, 'afile');
    await writeFile(afile, 'hi\n');
    const under = join(afile, 'sub');
    // Then every way in names afile as the file in the way, on --dir (it said "afile/sub is a file, not a folder")
    const expected = { message: /^the submissions folder .*afile\/sub cannot be made: .*afile is a file, not a folder$/, file: 'afile', flag: 'dir', hint: /move .*afile aside/ };
    await expectUserError(checkSubmissionsDir(under), expected);
    await expectUserError(readLedger(under), expected);
    await expectUserError(appendLedger(under, entry('a.csv')), expected);
    await expectUserError(writeSubmission({ dir: under, name: 'x', labels: [1] }), expected);
    expect(await readFile(afile, 'utf8')).toBe('hi\n');
  });

  test('listSubmissions checks each file against its sha256: ok, modified, missing', async () => {
    const dir = await tempDir('digits-sub-');
    const files = await Promise.all(['a', 'b', 'c'].map((name) => writeSubmission({ dir, name, labels: [1, 2], now: NOW })));
    for (const f of files) await appendLedger(dir, entry(f.file, { sha256: f.sha256 }));
    await writeFile(files[1]!.file, csv('ImageId,Label', '1,1', '2,1'));
    await unlink(files[2]!.file);
    const listed = await listSubmissions(dir);
    expect(listed.map((s) => [s.file, s.status])).toEqual([
      ['20261121-101500-a.csv', 'ok'],
      ['20261121-101500-b.csv', 'modified'],
      ['20261121-101500-c.csv', 'missing'],
    ]);
    expect(listed[0]!.path).toBe(files[0]!.file);
  });
});

describe('a submission is named before it is recorded', () => {
  const entry = (file: string, sha: string): LedgerEntry => ({ file, sha256: sha, createdAt: '2026-11-21T10:15:01.000Z', run: 'runs/r', members: [{ name: 'm', checkpoint: 'runs/r/m/best' }], voting: 'soft', tta: 1 });

  /**
   * A real process that commits a submission as `digits submit` does (its ledger line appended by
   * commitSubmission's `record`) and is killed with SIGKILL at `point`: just before the ledger line
   * is appended, or just after. Returns the submission's sha256.
   */
  async function killedSubmit(dir: string, point: 'before the ledger line' | 'after the ledger line'): Promise<string> {
    const submission = JSON.stringify(pathToFileURL(resolve('src/data/submission.ts')).href);
    const script = `
      setInterval(() => {}, 1000);
      const m = await import(${submission});
      const dir = ${JSON.stringify(dir)};
      const prepared = await m.prepareSubmission({ dir, name: 'killed', labels: [1, 2, 3], now: new Date(${JSON.stringify(NOW.toISOString())}) });
      const line = (file) => ({ file, sha256: prepared.sha256, createdAt: new Date().toISOString(), run: 'runs/r', members: [{ name: 'm', checkpoint: 'runs/r/m/best' }], voting: 'soft', tta: 1 });
      await m.commitSubmission(prepared, async (file) => {
        if (${JSON.stringify(point)} === 'after the ledger line') await m.appendLedger(dir, line(file));
        console.log('sha ' + prepared.sha256);
        await new Promise(() => {});
      });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sha = await new Promise<string>((done, fail) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const match = /sha ([0-9a-f]{64})/.exec(String(chunk));
        if (match) done(match[1]!);
      });
      child.on('exit', (code) => fail(new Error(`the submit ended (${code}) before the point it was to be killed at`)));
    });
    const ended = new Promise((done) => child.on('exit', done));
    child.kill('SIGKILL');
    await ended;
    return sha;
  }

  test.each(['before the ledger line', 'after the ledger line'] as const)('a submit killed %s leaves no ledger line without its file, and loses nothing on the next start', async (point) => {
    // Given a submissions folder with one recorded submission
    const dir = await tempDir('digits-sub-');
    const earlier = await writeSubmission({ dir, name: 'earlier', labels: [3, 2, 1], now: NOW });
    await appendLedger(dir, entry(earlier.file, earlier.sha256));
    // When a submit is killed at that point
    const sha = await killedSubmit(dir, point);
    // Then every ledger line's file is there with its bytes, and the killed submission's CSV is in the folder
    const warnings: string[] = [];
    const check = async () => {
      warnings.length = 0;
      const listed = await listSubmissions(dir, { onWarning: (w) => warnings.push(w) });
      expect(listed.map((s) => s.status)).toEqual(listed.map(() => 'ok'));
      return listed;
    };
    const csvs = async () => (await readdir(dir)).filter((f) => f.endsWith('.csv')).sort();
    const killedFile = '20261121-101500-killed.csv';
    let listed = await check();
    expect(await csvs()).toEqual(['20261121-101500-earlier.csv', killedFile]);
    expect(sha256(await readFile(join(dir, killedFile), 'utf8'))).toBe(sha);
    // and a CSV the ledger does not list is reported, not passed over
    const recorded = point === 'after the ledger line';
    expect(listed.map((s) => s.file)).toEqual(recorded ? ['20261121-101500-earlier.csv', killedFile] : ['20261121-101500-earlier.csv']);
    expect(warnings).toEqual(recorded ? [] : [expect.stringMatching(/^20261121-101500-killed\.csv is in the submissions folder but not in ledger\.jsonl \(a submit killed before it recorded the file/)]);
    // When the next submit starts
    const said: string[] = [];
    await recoverKilledSubmits(dir, await readLedger(dir), (w) => said.push(w));
    // Then the temp file is gone, the CSV stays (still reported when unrecorded), and the ledger still tells the truth
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(await csvs()).toEqual(['20261121-101500-earlier.csv', killedFile]);
    expect(said).toEqual(recorded ? [] : [expect.stringMatching(/^20261121-101500-killed\.csv is in the submissions folder but not in ledger\.jsonl/)]);
    listed = await check();
    expect(listed).toHaveLength(recorded ? 2 : 1);
  }, 60_000);

  test('a file recorded but not named by a submit of an earlier version is restored from its temp file, not deleted', async () => {
    // Given what the earlier order (ledger line, then name) left when killed in link(): the line, no file, the bytes in a temp file of a dead pid
    const dir = await tempDir('digits-sub-');
    const text = csv('ImageId,Label', '1,4', '2,2');
    const temp = join(dir, `.20261121-101500-r.csv.tmp-${await deadPid()}-0a1b2c3d`);
    await writeFile(temp, text);
    await appendLedger(dir, entry('20261121-101500-r.csv', sha256(text)));
    expect((await listSubmissions(dir))[0]!.status).toBe('missing');
    // When the next submit starts
    const said: string[] = [];
    await recoverKilledSubmits(dir, await readLedger(dir), (w) => said.push(w));
    // Then the file is back under its name, the temp file gone, and it says so
    expect((await listSubmissions(dir)).map((s) => [s.file, s.status])).toEqual([['20261121-101500-r.csv', 'ok']]);
    expect(await readdir(dir)).toEqual(['20261121-101500-r.csv', 'ledger.jsonl']);
    expect(said).toEqual([expect.stringMatching(/^restored 20261121-101500-r\.csv from the temp file of a submit killed/)]);
  });

  test('two submits choosing one name: the second takes the next name, and each file has its own true ledger line', async () => {
    // Given two submissions of the same run prepared in the same second (the same file name)
    const dir = await tempDir('digits-sub-');
    const a = await prepareSubmission({ dir, name: 'r', labels: [1, 2, 3], now: NOW });
    const b = await prepareSubmission({ dir, name: 'r', labels: [4, 5, 6], now: NOW });
    const record = (sha: string) => async (file: string) => void (await appendLedger(dir, entry(file, sha)));
    // When the second one is committed while the first is between choosing its name and recording it
    let second: Awaited<ReturnType<typeof commitSubmission>> | undefined;
    const first = await commitSubmission(a, async (file) => {
      second = await commitSubmission(b, record(b.sha256));
      await record(a.sha256)(file);
    });
    // Then both are written under their own names, and the ledger lists each once, unchanged
    expect([first.file, second!.file].map((f) => f.slice(dir.length + 1))).toEqual(['20261121-101500-r.csv', '20261121-101500-r-2.csv']);
    const listed = await listSubmissions(dir);
    expect(listed.map((s) => [s.file, s.status]).sort()).toEqual([
      ['20261121-101500-r-2.csv', 'ok'],
      ['20261121-101500-r.csv', 'ok'],
    ]);
    expect(await readdir(dir)).toHaveLength(3);
  });

  test('a submit starting while another (a live process) is between naming its CSV and recording it says nothing of that file, and leaves it be', async () => {
    // Given a submission committed by this process (alive): its CSV named, its temp file a second name of it, no ledger line yet
    const dir = await tempDir('digits-sub-');
    const a = await prepareSubmission({ dir, name: 'same', labels: [1, 2, 3], now: NOW });
    const said: string[] = [];
    const listWarnings: string[] = [];
    let readEarly: LedgerEntry[] = [];
    const first = await commitSubmission(a, async (file) => {
      // When another submit starts at that moment (its recovery, as submit runs it first), and `digits submissions` lists
      await recoverKilledSubmits(dir, await readLedger(dir), (w) => said.push(w));
      await listSubmissions(dir, { onWarning: (w) => listWarnings.push(w) });
      // (and one that read the ledger now, and looks at the folder only after the line is in)
      readEarly = await readLedger(dir);
      await appendLedger(dir, entry(file, a.sha256));
    });
    // Then neither warned about the file (until session 45: "… is in the submissions folder but not in ledger.jsonl (a submit killed …); delete it")
    expect(said).toEqual([]);
    expect(listWarnings).toEqual([]);
    expect(readEarly).toEqual([]);
    const late: string[] = [];
    await recoverKilledSubmits(dir, readEarly, (w) => late.push(w));
    expect(late).toEqual([]);
    // And the submission is recorded, its file whole
    expect((await listSubmissions(dir)).map((s) => [s.file, s.status])).toEqual([[first.file.slice(dir.length + 1), 'ok']]);
    // While a CSV whose submit was killed there (its temp twin under a dead pid) is still reported
    const b = await prepareSubmission({ dir, name: 'killed', labels: [4, 5, 6], now: NOW });
    const killedTemp = join(dir, `.20261121-101500-killed.csv.tmp-${await deadPid()}-0a1b2c3d`);
    await writeFile(killedTemp, await readFile(b.temp));
    await unlink(b.temp);
    await link(killedTemp, join(dir, '20261121-101500-killed.csv'));
    const killed: string[] = [];
    await recoverKilledSubmits(dir, await readLedger(dir), (w) => killed.push(w));
    expect(killed).toEqual([expect.stringMatching(/^20261121-101500-killed\.csv is in the submissions folder but not in ledger\.jsonl \(a submit killed/)]);
  });

  test('a ledger line that cannot be written leaves no CSV behind', async () => {
    // Given a prepared submission
    const dir = await tempDir('digits-sub-');
    const prepared = await prepareSubmission({ dir, name: 'r', labels: [1, 2, 3], now: NOW });
    // When recording it fails
    await expect(commitSubmission(prepared, async () => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    // Then neither the CSV nor its temp file is left
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('scoreAgainstAnswers', () => {
  async function files(submission: string, answers: string) {
    const dir = await tempDir('digits-sub-');
    await writeFile(join(dir, 'sub.csv'), submission);
    await writeFile(join(dir, 'answers.csv'), answers);
    return { sub: join(dir, 'sub.csv'), answers: join(dir, 'answers.csv') };
  }

  test('accuracy, matched by id (order and header names do not matter)', async () => {
    const f = await files(csv('id,label', '3,1', '1,7', '2,5', '4,0'), csv('ImageId,Label', '1,7', '2,2', '3,1', '4,0'));
    expect(await scoreAgainstAnswers(f.sub, f.answers)).toEqual({ accuracy: 0.75, rows: 4 });
  });

  test('answers are read as evaluate reads them: 7.0 is 7, ids and labels trimmed', async () => {
    const f = await files(csv('ImageId,Label', '1,7', '2,0', '3,1'), csv('ImageId,Label', ' 1, 7.0', '2,0.0', ' 3 ,2'));
    expect(await scoreAgainstAnswers(f.sub, f.answers)).toEqual({ accuracy: 2 / 3, rows: 3 });
    expect(Array.from(await readAnswers(f.answers, ['1', '2', '3']))).toEqual([7, 0, 2]);
  });

  const failures: Array<{ name: string; submission: string; answers: string; message: RegExp; file: string; line?: number }> = [
    { name: 'an answer id missing from the submission', submission: csv('ImageId,Label', '1,7', '2,2'), answers: csv('ImageId,Label', '1,7', '2,2', '3,1'), message: /no row for id 3/, file: 'sub.csv' },
    { name: 'a submission id the answers lack', submission: csv('ImageId,Label', '1,7', '2,2', '9,1'), answers: csv('ImageId,Label', '1,7', '2,2'), message: /id 9 is not in the answers/, file: 'sub.csv', line: 4 },
    { name: 'a ragged answers line', submission: csv('ImageId,Label', '1,7'), answers: csv('ImageId,Label', '1'), message: /1 columns, expected 2/, file: 'answers.csv', line: 2 },
    { name: 'an answer that is not a digit', submission: csv('ImageId,Label', '1,7', '2,2'), answers: csv('ImageId,Label', '1,7', '2,12'), message: /label "12" is not a digit 0–9/, file: 'answers.csv', line: 3 },
    { name: 'an empty answer', submission: csv('ImageId,Label', '1,7'), answers: csv('ImageId,Label', '1,'), message: /label "" is not a digit/, file: 'answers.csv', line: 2 },
    { name: 'an answer in hex', submission: csv('ImageId,Label', '1,5'), answers: csv('ImageId,Label', '1,0x5'), message: /label "0x5" is not a digit/, file: 'answers.csv', line: 2 },
  ];
  test.each(failures)('$name is an error', async ({ submission, answers, message, file, line }) => {
    const f = await files(submission, answers);
    await expectUserError(scoreAgainstAnswers(f.sub, f.answers), { message, file, ...(line === undefined ? {} : { line }) });
  });

  test('a folder given as the answers (the competition\'s) is said to be one, naming --answers', async () => {
    const dir = await tempDir('digits-sub-');
    await expectUserError(readAnswerLabels(dir), { message: new RegExp(`^the answers ${dir.replaceAll('/', '\\/')} is a folder, not a file$`), flag: 'answers', hint: /-answers\.csv beside its folder/ });
  });

  test('an answers file saved Label,ImageId is read by its column names, as Kaggle reads them', async () => {
    const f = await files(csv('ImageId,Label', '1,7', '2,2', '3,1'), csv('Label,ImageId', '7,1', '2,2', '4,3'));
    expect(await scoreAgainstAnswers(f.sub, f.answers)).toEqual({ accuracy: 2 / 3, rows: 3 });
    expect(Array.from(await readAnswers(f.answers, ['1', '2', '3']))).toEqual([7, 2, 4]);
    // a bad label is pointed at in its own column
    const bad = await files(csv('ImageId,Label', '1,7'), csv('Label,ImageId', '12,1'));
    await expectUserError(scoreAgainstAnswers(bad.sub, bad.answers), { message: /label "12" is not a digit 0–9/, file: 'answers.csv', line: 2, column: 1 });
  });

  test('a sample submission given as the answers (one digit on every row) is refused; a few rows of one digit are answers', async () => {
    const rows = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1},0`);
    const sample = await files(csv('ImageId,Label', ...rows(20)), csv('ImageId,Label', ...rows(20)));
    await expectUserError(scoreAgainstAnswers(sample.sub, sample.answers), { message: /^every one of the 20 answers in answers\.csv is 0: it looks like a sample submission, not the test set's answers$/, file: 'answers.csv', hint: /leave --answers out/ });
    const few = await files(csv('ImageId,Label', ...rows(19)), csv('ImageId,Label', ...rows(19)));
    expect(await scoreAgainstAnswers(few.sub, few.answers)).toEqual({ accuracy: 1, rows: 19 });
  });

  test('an answers file with an id twice, or in JSON: errors naming the file and line (evaluate and submit read it so)', async () => {
    const dir = await tempDir('digits-sub-');
    const twice = join(dir, 'answers.csv');
    await writeFile(twice, csv('ImageId,Label', '1,3', '1,4'));
    await expectUserError(readAnswers(twice, ['1', '2']), { message: /test id 1 appears twice in the answers \(first on line 2\)/, file: 'answers.csv', line: 3 });
    await expectUserError(readIdLabelCsv(twice, 'answers'), { message: /test id 1 appears twice/, line: 3 });
    const json = join(dir, 'answers.json');
    await writeFile(json, JSON.stringify([{ ImageId: 1, Label: 3 }, { ImageId: 2, Label: 4 }], null, 2));
    await expectUserError(readAnswers(json, ['1', '2']), { message: /answers file answers\.json is not CSV \(it looks like JSON\)/, file: 'answers.json', line: 1 });
    await writeFile(json, JSON.stringify({ 1: 3, 2: 4 }));
    await expectUserError(readAnswers(json, ['1', '2']), { message: /not CSV/, file: 'answers.json' });
  });

  test('an answers file ending in blank lines is read (the competition CSVs accept them); a blank line between rows stays an error', async () => {
    // Given answers ending in one blank line, then in several (CRLF, spaces), as an editor or a notebook leaves them
    const dir = await tempDir('digits-sub-');
    const answers = join(dir, 'answers.csv');
    for (const text of [csv('ImageId,Label', '1,7', '2,3') + '\n', 'ImageId,Label\r\n1,7\r\n2,3\r\n\r\n \r\n\r\n']) {
      await writeFile(answers, text);
      // When evaluate and submit read them: every answer, no error (it was "blank line in the answers" until session 39)
      expect(Array.from(await readAnswers(answers, ['1', '2']))).toEqual([7, 3]);
    }
    // Given a blank line between two rows: still an error at its line
    await writeFile(answers, csv('ImageId,Label', '1,7', '', '2,3'));
    await expectUserError(readAnswers(answers, ['1', '2']), { message: /^blank line in the answers$/, file: 'answers.csv', line: 3, hint: /blank lines at the end are fine/ });
  });

  test('a missing answers file says where answers usually are', async () => {
    const f = await files(csv('ImageId,Label', '1,7'), csv('ImageId,Label', '1,7'));
    const error = await expectUserError(scoreAgainstAnswers(f.sub, `${f.answers}.missing`), { message: /cannot read the answers/ });
    expect(error).toBeInstanceOf(UserError);
    expect(error.hint).toMatch(/-answers\.csv/);
  });
});

describe('digits submissions', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  async function run(argv: string[]) {
    let stdout = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
    try {
      await SubmissionsCommand.run(argv, root);
    } finally {
      vi.restoreAllMocks();
    }
    return stdout;
  }

  test('a torn last line is skipped with a warning; --dir naming a file is an error, exit 2', async () => {
    const dir = await tempDir('digits-sub-');
    const written = await writeSubmission({ dir, name: 'quick', labels: [1, 2, 3], now: NOW });
    const line = { file: written.file, sha256: written.sha256, createdAt: '2026-11-21T10:15:02.000Z', run: '/x/runs/r', members: [{ name: 'm', checkpoint: 'm/best' }], voting: 'soft' as const, tta: 1 };
    await appendLedger(dir, line);
    await writeFile(join(dir, 'ledger.jsonl'), `${await readFile(join(dir, 'ledger.jsonl'), 'utf8')}{"file":"x`);
    const listed = await runCommand(SubmissionsCommand, ['--dir', dir]);
    expect(listed.exit).toBe(0);
    expect(listed.stdout).toMatch(/^1 submission in /);
    expect(listed.stderr).toContain('warning: ledger.jsonl:2: torn last line (a write did not finish), skipped');
    const failed = await runCommand(SubmissionsCommand, ['--dir', written.file]);
    expect(failed.exit).toBe(2);
    expect(failed.stderr).toMatch(/error: the submissions folder .*quick\.csv is a file, not a folder \(flag --dir\)\n\s+hint: /);
    // a folder under that file (quick.csv/sub): the file is named, not only "no such folder"
    const under = await runCommand(SubmissionsCommand, ['--dir', join(written.file, 'sub')]);
    expect(under.exit).toBe(2);
    expect(under.stderr).toContain(`no such folder (${written.file} is a file, not a folder) (flag --dir)`);
  });

  test('lists the ledger as a table, as JSON, and says when there is none', async () => {
    const dir = await tempDir('digits-sub-');
    // Given no ledger
    expect(await run(['--dir', dir])).toMatch(/^No submissions in .* yet \(no ledger\.jsonl\); digits submit writes them\./);
    // Given one scored submission
    const written = await writeSubmission({ dir, name: 'quick', labels: [1, 2, 3], now: NOW });
    await appendLedger(dir, {
      file: written.file,
      sha256: written.sha256,
      createdAt: '2026-11-21T10:15:02.000Z',
      run: '/x/runs/quick-20261121-100000',
      members: [{ name: 'seed002-1', checkpoint: 'seed002-1/best' }, { name: 'deotte-2', checkpoint: 'deotte-2/best' }],
      voting: 'soft',
      tta: 8,
      validation: { accuracy: 0.99123, logLoss: 0.03114 },
      score: { accuracy: 0.9875, answers: '/x/uniform-answers.csv' },
    });
    // and one predicted in int8 whose held-out figures are an fp32 evaluation's
    const second = await writeSubmission({ dir, name: 'quick', labels: [1, 2, 3], now: new Date(NOW.getTime() + 1000) });
    await appendLedger(dir, {
      file: second.file,
      sha256: second.sha256,
      createdAt: '2026-11-21T10:15:03.000Z',
      run: '/x/runs/quick-20261121-100000',
      members: [{ name: 'seed002-1', checkpoint: 'seed002-1/best' }],
      voting: 'soft',
      tta: 1,
      precision: 'int8',
      validation: { accuracy: 0.98, logLoss: 0.05, precision: 'fp32' },
    });
    // Then the table shows them: the second's vote with its number format (unrecorded in the first), and the evaluation's format beside its figures
    const text = await run(['--dir', dir]);
    expect(text).toMatch(/^2 submissions in /);
    expect(text).toMatch(/created \(UTC\)\s+file\s+run\s+members\s+voting\s+tta\s+val acc\s+val loss\s+score\s+file status/);
    expect(text).toMatch(/2026-11-21 10:15:02\s+20261121-101500-quick\.csv\s+quick-20261121-100000\s+2\s+soft\s+8-way\s+99\.12%\s+0\.0311\s+98\.75%\s+ok/);
    expect(text).toMatch(/2026-11-21 10:15:03\s+20261121-101501-quick\.csv\s+quick-20261121-100000\s+1\s+soft int8\s+no\s+98\.00% \(fp32\)\s+0\.0500\s+—\s+ok/);
    // and --json gives the entries with their status
    const json = JSON.parse(await run(['--dir', dir, '--json'])) as { type: string; submissions: unknown[] };
    expect(json.type).toBe('result');
    expect(json.submissions).toHaveLength(2);
    expect(json.submissions[0]).toMatchObject({ file: '20261121-101500-quick.csv', voting: 'soft', tta: 8, status: 'ok', path: written.file });
  });
});

describe.runIf(canMount)(`the ledger on a full disk (${SKIP_REASON})`, () => {
  let disk: SmallDisk;
  beforeAll(() => {
    disk = mountSmallDisk();
  });
  afterAll(() => disk?.unmount());

  test('an append that fails part-way is cut off again, and the error says the disk is full, naming the ledger', async () => {
    // Given a ledger of one line on a disk with no space left
    const dir = join(disk.dir, 'submissions');
    const first: LedgerEntry = { file: 'a.csv', sha256: 'ab', createdAt: '2026-12-01T10:00:00Z', run: 'runs/r', members: [{ name: 'm1', checkpoint: 'runs/r/m1/best' }], voting: 'soft', tta: 1 };
    const ledger = await appendLedger(dir, first);
    const before = await readFile(ledger, 'utf8');
    disk.fill();

    // When a line longer than the room left in the file's last page is appended
    const members = Array.from({ length: 200 }, (_, i) => ({ name: `member-${i}`, checkpoint: `runs/r/member-${i}/best` }));
    const error = await expectUserError(appendLedger(dir, { ...first, file: 'b.csv', members }), { message: /^cannot write .*ledger\.jsonl: the disk is full$/, file: 'ledger.jsonl', hint: /^Free some space/ });

    // Then the ledger is as it was (no torn line for every later reader to warn of)
    expect(error.exitCode).toBe(2);
    expect(await readFile(ledger, 'utf8')).toBe(before);
    disk.free();
    const warnings: string[] = [];
    expect(await readLedger(dir, { onWarning: (w) => warnings.push(w) })).toHaveLength(1);
    expect(warnings).toEqual([]);
  });
});
