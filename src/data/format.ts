/** Small text formatters shared by the data commands' human output. */
import { isAbsolute, relative } from 'node:path';

const number = new Intl.NumberFormat('en-US');

/** 12345 → "12,345". */
export function formatCount(value: number): string {
  return number.format(value);
}

/** A path relative to the working directory when it lies below it, else absolute. */
export function displayPath(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, path);
  if (rel === '') return '.';
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/**
 * A learning rate (or any positive scale) in two significant digits: `3.0e-4` below 0.1, plain
 * from 0.1 up (`0.3`, `1`, `10`), where the exponent form read `1.0e+1`.
 */
export function formatRate(value: number): string {
  return value >= 0.1 ? String(Number(value.toPrecision(2))) : value.toExponential(1);
}

/** `1 epoch`, `3 epochs`: a count with its noun, singular for one. */
export function plural(count: number, noun: string): string {
  return `${formatCount(count)} ${noun}${count === 1 ? '' : 's'}`;
}

/**
 * A relative path as an argument of a printed command (`shellArg`): one starting with `-` gets
 * `./`, or the command takes it for a flag (`digits data import -weird` failed "not a flag").
 */
export function pathArg(path: string): string {
  return shellArg(path.startsWith('-') ? `./${path}` : path);
}

/**
 * One word of a command the user is told to run, as a POSIX shell reads it: as it is when
 * it holds only characters no shell treats specially (letters, digits, `_-./:,@%+=`),
 * else in single quotes (a `'` inside as `'\''`), so `digits train --resume --run 'my run'`
 * can be pasted as it is printed.
 */
export function shellArg(word: string): string {
  if (/^[\p{L}\p{N}_\-./:,@%+=]+$/u.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
