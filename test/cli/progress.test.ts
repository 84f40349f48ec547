import { PassThrough } from 'node:stream';
import { expect, test } from 'vitest';
import { createProgress, rowProgress } from '../../src/cli/progress.js';

/** A stream that says it is an 80-column terminal, collecting what is drawn. */
function terminal() {
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 80, cursorTo: () => true, clearLine: () => true, moveCursor: () => true }) as unknown as NodeJS.WriteStream & PassThrough;
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
