/** Where the server's own reports go (cut requests, internal errors, a store it cannot append to): plain lines, or JSON lines under --json. */
import os from 'node:os';

/** The server's own reports as plain lines on stderr (the default). */
export function plainLogLines(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * The server's own reports as JSON lines in pino's shape (numeric level, time in ms, pid,
 * hostname, msg), for `--json`: stderr then holds nothing but JSON lines, these between
 * Fastify's request log. Written whatever --log-level says, as the plain lines are.
 */
export function jsonLogLines(write: (text: string) => void = (text) => process.stderr.write(text)): (line: string, level: 'warn' | 'error') => void {
  const hostname = os.hostname();
  return (line, level) => {
    const msg = line.replace(/^digits serve: /, '');
    write(`${JSON.stringify({ level: level === 'error' ? 50 : 40, time: Date.now(), pid: process.pid, hostname, name: 'digits serve', msg })}\n`);
  };
}
