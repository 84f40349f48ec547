/**
 * Runs a command on a real pseudo-terminal (python3's pty module, as a terminal emulator
 * would: stdin, stdout and stderr on the pty, a session of its own with the pty as its
 * controlling terminal) and collects every byte it drew. A signal goes to the whole process
 * group, as Ctrl-C at a terminal does, once the output contains `signalAfter` — no timers.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

const DRIVER = String.raw`
import base64, fcntl, json, os, pty, select, signal, struct, subprocess, sys, termios, time
spec = json.loads(sys.argv[1])
master, slave = pty.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', spec['rows'], spec['cols'], 0, 0))
p = subprocess.Popen(spec['argv'], stdin=slave, stdout=slave, stderr=slave, cwd=spec['cwd'], env=spec['env'],
    start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
os.close(slave)
marker = spec['signalAfter'].encode() if spec['signalAfter'] else None
out = bytearray(); sent = False; deadline = time.time() + spec['timeout']
while True:
    r, _, _ = select.select([master], [], [], 0.05)
    if r:
        try: data = os.read(master, 65536)
        except OSError: data = b''
        if not data and p.poll() is not None: break
        out += data
    elif p.poll() is not None: break
    if marker and not sent and marker in out:
        os.killpg(p.pid, getattr(signal, spec['signal'])); sent = True
    if time.time() > deadline:
        os.killpg(p.pid, signal.SIGKILL); p.wait(); print(json.dumps({'timeout': True, 'out': base64.b64encode(bytes(out)).decode()})); sys.exit(0)
rc = p.wait()
print(json.dumps({'rc': rc, 'sent': sent, 'out': base64.b64encode(bytes(out)).decode()}))
`;

export interface PtyRun {
  /** everything drawn on the terminal (stdout and stderr together) */
  output: string;
  /** the exit code, or null when the process died by a signal */
  code: number | null;
  /** the signal it died by (SIGINT, SIGTERM…), or null */
  signal: string | null;
  /** whether the signal was sent */
  sent: boolean;
}

export async function runInPty(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; cols?: number; rows?: number; signalAfter?: string; signal?: 'SIGINT' | 'SIGTERM'; timeoutMs?: number } = {},
): Promise<PtyRun> {
  const spec = {
    argv,
    env: options.env ?? process.env,
    cwd: options.cwd ?? process.cwd(),
    cols: options.cols ?? 80,
    rows: options.rows ?? 24,
    signalAfter: options.signalAfter ?? null,
    signal: options.signal ?? 'SIGINT',
    timeout: (options.timeoutMs ?? 60_000) / 1000,
  };
  const { stdout } = await exec('python3', ['-c', DRIVER, JSON.stringify(spec)], { maxBuffer: 64 << 20 });
  const result = JSON.parse(stdout) as { rc?: number; sent?: boolean; timeout?: boolean; out: string };
  const output = Buffer.from(result.out, 'base64').toString('utf8');
  if (result.timeout) throw new Error(`timed out in the pty; it drew:\n${output}`);
  const rc = result.rc!;
  const signals: Record<number, string> = { 2: 'SIGINT', 15: 'SIGTERM', 9: 'SIGKILL', 6: 'SIGABRT' };
  return { output, code: rc >= 0 ? rc : null, signal: rc < 0 ? (signals[-rc] ?? `signal ${-rc}`) : null, sent: Boolean(result.sent) };
}

/** How many times `sequence` occurs in `text`. */
export function count(text: string, sequence: string): number {
  return text.split(sequence).length - 1;
}
