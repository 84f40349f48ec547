/** An answers file is checked against the test ids before anything trains: missing ids, and ids the test set lacks. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { readAnswers } from '../../src/services/evaluate.js';
import { expectUserError } from '../data/helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'digits-answers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('answers of a larger test set are refused naming the first foreign id and its line (they failed at the submission, after training)', async () => {
  const file = path.join(dir, 'more.csv');
  await writeFile(file, 'ImageId,Label\n1,3\n2,4\n3,5\n4,6\n');
  await expectUserError(readAnswers(file, ['1', '2', '3']), { message: /^answers: id 4 is not a test id of this competition \(its test set has 3 rows\)$/, file: 'more.csv', hint: /answers file of this competition/ });
  // the same ids in another order are the test set's answers, in its order
  await writeFile(file, 'ImageId,Label\n3,5\n1,3\n2,4\n');
  expect(Array.from(await readAnswers(file, ['1', '2', '3']))).toEqual([3, 4, 5]);
  // fewer: the first test id without a label
  await expectUserError(readAnswers(file, ['1', '2', '3', '4']), { message: /^answers: no label for test id 4 \(row 4\)$/ });
});
