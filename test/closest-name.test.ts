/**
 * The "did you mean" of a mistyped command, flag or name: a swap of two neighbouring letters is
 * one edit, so `digits rusn` points at `runs`, not at `run` (the 20-minute main job).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { closestName, editDistance } from '../src/closest-name.js';

const exec = promisify(execFile);
const bin = path.resolve('bin/run.js');

describe('closestName', () => {
  test.each([
    ['a transposition is one edit', 'rusn', 'runs', 1],
    ['a dropped letter', 'rusn', 'run', 1],
    ['the same', 'train', 'train', 0],
    ['a transposition and a substitution', 'trian', 'trainx', 2],
    ['nothing in common', 'abc', 'xyz', 3],
    ['from empty', '', 'abc', 3],
  ])('editDistance: %s', (_label, a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });

  test.each([
    // (plain Levenshtein counted the swap as 2 and offered run)
    ['rusn', ['run', 'runs', 'report'], 'runs'],
    ['urn', ['run', 'runs'], 'run'],
    ['trian', ['train', 'run', 'search'], 'train'],
    ['evalute', ['evaluate', 'export onnx'], 'evaluate'],
    ['answres', ['answers', 'data', 'run'], 'answers'],
    ['zzzzzzzz', ['train', 'run'], undefined],
  ])('%s among %j → %s', (typed, names, expected) => {
    expect(closestName(typed, names)).toBe(expected);
  });

  test('the built CLI: `digits rusn` suggests `digits runs`', async () => {
    const outcome = await exec(process.execPath, [bin, 'rusn']).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(/^error: rusn is not a digits command\n {2}hint: did you mean `digits runs`\?/);
  });
});
