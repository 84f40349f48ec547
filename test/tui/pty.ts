/** Runs the CLI on a pseudo-terminal (python3's pty, through ./pty-run.py), as a person at a terminal runs it. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Waits for `waitFor` in the terminal's output (and with `echoOff`, for the program to turn echo off), then sends keys, a signal (USR2) or resizes. */
export type PtyStep = { waitFor?: string; echoOff?: boolean; send?: string; signal?: string; resize?: [number, number] };

export interface PtyResult {
  /** The exit status as a shell reports it (128 + signal when killed by one). */
  exit: number;
  timedOut: boolean;
  /** Steps whose text never appeared. */
  pending: number;
  /** Everything written to the terminal (stderr, and stdout unless piped). */
  tty: string;
  /** stdout, when piped. */
  stdout: string;
  /** The terminal's local modes (echo, canonical input) are as they were before. */
  lflagRestored: boolean;
}

export interface PtyOptions {
  cwd: string;
  cols?: number;
  rows?: number;
  stdoutPipe?: boolean;
  steps?: PtyStep[];
  /** seconds */
  timeout?: number;
  /** null: not set */
  env?: Record<string, string | null>;
}

/** `digits <args>` from the TypeScript sources (bin/dev.js), so the tests see the code as it is, built or not. */
export function runOnTerminal(args: string[], options: PtyOptions): Promise<PtyResult> {
  return runCommandOnTerminal(['node', `${repoRoot}bin/dev.js`, ...args], options);
}

/** A TypeScript file of the tests (through tsx), on the terminal. */
export function runScriptOnTerminal(script: string, options: PtyOptions): Promise<PtyResult> {
  return runCommandOnTerminal(['node', '--import', 'tsx', fileURLToPath(new URL(script, import.meta.url))], options);
}

function runCommandOnTerminal(cmd: string[], options: PtyOptions): Promise<PtyResult> {
  const spec = {
    cmd,
    cwd: options.cwd,
    cols: options.cols ?? 80,
    rows: options.rows ?? 24,
    stdoutPipe: options.stdoutPipe ?? false,
    steps: options.steps ?? [],
    timeout: options.timeout ?? 40,
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
