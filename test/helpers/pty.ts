/**
 * Runs a command on a real pseudo-terminal (python3's pty, through ./pty-run.py), as a person
 * at a terminal runs it: stdin, stdout and stderr on the pty, a session of its own with the pty
 * as its controlling terminal. Steps wait for text on the screen, then type keys, send a
 * signal to the process group (as Ctrl-C at a terminal does) or resize it: no timers.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { repoRoot } from './run-command.js';

export { repoRoot };

/** Waits for `waitFor` in the terminal's output (with `echoOff`, also for the program to turn echo off; with `stopped`, for it to be stopped, as by Ctrl-Z), then sends keys, a signal ('INT', 'TERM', 'HUP', 'USR2'…) or resizes. */
export type PtyStep = { waitFor?: string; echoOff?: boolean; stopped?: boolean; send?: string; signal?: string; resize?: [number, number] };

export interface PtyResult {
  /** The exit status as a shell reports it (128 + signal when killed by one). */
  exit: number;
  /** The signal it died by ('SIGINT'…), or null when it exited (even with 130). */
  signal: string | null;
  timedOut: boolean;
  /** Steps whose text never appeared. */
  pending: number;
  /** Everything written to the terminal (stderr, and stdout unless piped). */
  tty: string;
  /** stdout, when piped. */
  stdout: string;
  /** The terminal's local modes (echo, canonical input) are as they were before. */
  lflagRestored: boolean;
  /** The same, at each `stopped` step: the terminal the shell got back. */
  lflagRestoredWhenStopped: boolean[];
}

export interface PtyOptions {
  /** default: the repository */
  cwd?: string;
  cols?: number;
  rows?: number;
  stdoutPipe?: boolean;
  steps?: PtyStep[];
  /** seconds */
  timeout?: number;
  /** null: not set */
  env?: Record<string, string | null>;
  /** Run it as an interactive shell runs a job (its own process group, in the terminal's foreground), so that Ctrl-Z can stop it: see `stopped` steps. */
  jobControl?: boolean;
}

/**
 * `digits <args>`, the built CLI (bin/run.js), as the other tests of whole commands run it
 * (`npm test` builds first). bin/dev.js (the sources through tsx) loaded every command module
 * at each start, some 2–3 s of CPU a start; its own test is test/commands/dev-entry.test.ts.
 */
export function runOnTerminal(args: string[], options: PtyOptions): Promise<PtyResult> {
  return runCommandOnTerminal(['node', `${repoRoot}bin/run.js`, ...args], options);
}

/** A TypeScript file of the tests (through tsx), on the terminal: `new URL('./x.tsx', import.meta.url)` of the test. */
export function runScriptOnTerminal(script: URL, options: PtyOptions): Promise<PtyResult> {
  return runCommandOnTerminal(['node', '--import', 'tsx', fileURLToPath(script)], options);
}

/** Any command (argv) on the terminal. */
export function runCommandOnTerminal(cmd: string[], options: PtyOptions): Promise<PtyResult> {
  const spec = {
    cmd,
    cwd: options.cwd ?? repoRoot,
    cols: options.cols ?? 80,
    rows: options.rows ?? 24,
    stdoutPipe: options.stdoutPipe ?? false,
    steps: options.steps ?? [],
    timeout: options.timeout ?? 40,
    jobControl: options.jobControl ?? false,
    // A terminal the way a person has one: not CI, colours on.
    // (no TSX_TSCONFIG_PATH: bin/dev.js points tsx at the repository's tsconfig from any folder)
    env: { CI: null, CONTINUOUS_INTEGRATION: null, TERM: 'xterm-256color', TSX_TSCONFIG_PATH: null, ...options.env },
  };
  return new Promise((resolve, reject) => {
    const child = execFile('python3', [fileURLToPath(new URL('./pty-run.py', import.meta.url))], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(JSON.parse(stdout) as PtyResult);
    });
    child.stdin!.end(JSON.stringify(spec));
  });
}

/** Leaves the text: colours and cursor movements out. */
export const stripAnsi = (text: string) => text.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '').replace(/\u001B\][^\u0007]*\u0007/g, '');

/** How many times `sequence` occurs in `text`. */
export function count(text: string, sequence: string): number {
  return text.split(sequence).length - 1;
}
