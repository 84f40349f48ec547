import { PassThrough } from 'node:stream';
import { expect, test } from 'vitest';
import { createProgress, rowProgress } from '../../src/cli/progress.js';

/** A stream that says it is a terminal of `columns` columns, collecting what is drawn. */
function terminal(columns = 80) {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns, cursorTo: () => true, clearLine: () => true, moveCursor: () => true }) as unknown as NodeJS.WriteStream & PassThrough;
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

test('on a terminal: a bar per task with its percentage and ETA', async () => {
  // Given a progress printer on a terminal
  const { stream, text } = terminal();
  const onRows = rowProgress(createProgress({ stream, interactive: true }));
  // When a prediction advances over time
  for (let done = 0; done <= 1000; done += 250) {
    onRows('ensemble test rows', done, 1000);
    await new Promise((r) => setTimeout(r, 120));
  }
  // Then the bar names the task and shows the percentage and an ETA
  expect(text()).toMatch(/predicting ensemble test rows .*\d+% \| ETA \S+ \| \d+\/1000 rows/);
});

test('piped: plain lines at every tenth, no escape codes; quiet prints nothing', () => {
  const lines: string[] = [];
  const stream = { write: (s: string) => (lines.push(s), true), isTTY: false } as unknown as NodeJS.WriteStream;
  const printer = createProgress({ stream });
  for (let done = 0; done <= 100; done += 5) printer.update({ task: 'reading train.csv', done, total: 100, unit: 'rows' });
  expect(lines).toHaveLength(11);
  expect(lines.join('')).not.toContain('\u001B[');
  const quiet: string[] = [];
  createProgress({ stream: { write: (s: string) => (quiet.push(s), true) } as unknown as NodeJS.WriteStream, quiet: true }).update({ task: 't', done: 1, total: 1, unit: 'rows' });
  expect(quiet).toEqual([]);
});

/** Each drawing of the bar as the terminal shows it: the text after each move to column 1, without escape codes. */
const drawings = (text: string) =>
  text
    .split('\u001B[1G')
    .slice(1)
    .map((d) => d.replace(/\u001B\[[\d;?]*[A-Za-z]|\u001B[78]/g, '').replace(/[\r\n]/g, ''));

test.each([
  { columns: 80, bar: true, shortened: false },
  // no room for a bar of 10 columns: left out
  { columns: 70, bar: false, shortened: false },
  // no room for the task's name either: shortened, the figures kept whole
  { columns: 45, bar: false, shortened: true },
])('on a $columns-column terminal the whole line fits: percentage, ETA and counts (bar $bar, task shortened $shortened)', async ({ columns, bar, shortened }) => {
  // Given a terminal of that width and a task with a long name
  const { stream, text } = terminal(columns);
  const printer = createProgress({ stream, interactive: true });
  // When the bar is drawn at 44% and at its end
  printer.update({ task: 'predicting ensemble test rows', done: 0, total: 28000, unit: 'rows' });
  printer.update({ task: 'predicting ensemble test rows', done: 12320, total: 28000, unit: 'rows' });
  printer.finish();
  // Then every drawing fits in the width, one column spare (the cursor's), and nothing is cut
  const seen = drawings(text());
  expect(seen.length).toBeGreaterThan(0);
  for (const line of seen) {
    expect([...line].length, line).toBeLessThan(columns);
    expect(line).toMatch(/^predict[^|]* \d+% \| ETA \S+ \| \d+\/28000 rows$/);
    expect(line.startsWith('predicting ensemble test rows ')).toBe(!shortened);
    expect(/[█░]/.test(line), line).toBe(bar);
  }
});

test('on a wide terminal the bar keeps its 40 columns', () => {
  const { stream, text } = terminal(200);
  const printer = createProgress({ stream, interactive: true });
  printer.update({ task: 'predicting test rows', done: 10, total: 100, unit: 'rows' });
  printer.finish();
  for (const line of drawings(text())) expect(/[█░]{40}/.test(line) && !/[█░]{41}/.test(line), line).toBe(true);
});

test('on a 40-column terminal a file being read keeps its name, the tail giving up its detail and ETA first', () => {
  // Given a 40-column terminal and a file read with a row count beside the bytes
  const { stream, text } = terminal(40);
  const printer = createProgress({ stream, interactive: true });
  // When the bar is drawn part of the way and at its end
  printer.update({ task: 'reading train.csv', done: 0, total: 92.8e6, unit: 'bytes', detail: '0 rows' });
  printer.update({ task: 'reading train.csv', done: 48e6, total: 92.8e6, unit: 'bytes', detail: '6,206 rows' });
  printer.finish();
  // Then every drawing fits and names the file (until session 43: "51% | ETA 1s | 48.0/92.8 MB, 6,206 rows", no name)
  const seen = drawings(text());
  expect(seen.length).toBeGreaterThan(0);
  for (const line of seen) {
    expect([...line].length, line).toBeLessThan(40);
    expect(line, line).toMatch(/^reading trai\S* \d+%/);
  }
});

test('the bar keeps its width while a count in its detail grows, and a last update of a finished task draws no second bar', () => {
  // Given an 80-column terminal and a file whose row count grows as it is read
  const { stream, text } = terminal(80);
  const printer = createProgress({ stream, interactive: true });
  for (const [done, rows] of [[0, 0], [8e6, 33], [50e6, 6206], [92.8e6, 12000]] as const) printer.update({ task: 'reading train.csv', done, total: 92.8e6, unit: 'bytes', detail: `${rows.toLocaleString('en-US')} rows` });
  // (the reader's last word on the file, its final count, after the bar ended)
  printer.update({ task: 'reading train.csv', done: 92.8e6, total: 92.8e6, unit: 'bytes', detail: '12,000 rows' });
  printer.finish();
  const seen = drawings(text());
  // Then one bar width throughout (it went 20 → 17 → 16 as the count grew)
  expect(new Set(seen.map((line) => /[█░]+/.exec(line)?.[0].length)).size).toBe(1);
  // and no drawing after the one at 100% starts again from 0%
  const end = seen.findIndex((line) => line.includes(' 100% '));
  expect(end).toBeGreaterThanOrEqual(0);
  expect(seen.slice(end + 1).filter((line) => / 0% /.test(line))).toEqual([]);
});
