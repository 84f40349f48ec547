#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, as a person at a terminal would, for the TUI tests.

Reads one JSON object on stdin:
  {"cmd": [...], "cwd": ".", "env": {...}, "cols": 80, "rows": 24,
   "stdoutPipe": false,            # stdout to a pipe (as `| less`), stdin and stderr on the terminal
   "steps": [{"waitFor": "text", "echoOff": true, "send": "q"}, {"waitFor": "text", "resize": [60, 20]},
             {"waitFor": "text", "signal": "USR2"}],
   "timeout": 60}
Each step waits until the terminal output (since the previous step's match) contains
`waitFor`, then sends keys or resizes the terminal (SIGWINCH to the process group).
Writes one JSON object: exit (as a shell reports it: 128+signal when killed), timedOut,
pending (steps not reached), tty (the terminal output, latin-1), stdout (when piped) and
lflagRestored (the terminal's local modes, echo among them, are as before).
"""
import fcntl, json, os, pty, select, signal, struct, subprocess, sys, termios, time

spec = json.load(sys.stdin)
master, slave = pty.openpty()
def set_size(cols, rows):
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
set_size(spec.get('cols', 80), spec.get('rows', 24))
before = termios.tcgetattr(slave)
env = dict(os.environ)
for key, value in spec.get('env', {}).items():
    if value is None:
        env.pop(key, None)  # null: not set at all (Ink's is-in-ci takes CI= as CI)
    else:
        env[key] = value
pipe = spec.get('stdoutPipe', False)
proc = subprocess.Popen(spec['cmd'], cwd=spec.get('cwd'), env=env, stdin=slave,
                        stdout=subprocess.PIPE if pipe else slave, stderr=slave,
                        start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
steps = list(spec.get('steps', []))
tty = bytearray()
out = bytearray()
searched = 0
deadline = time.time() + spec.get('timeout', 60)
timed_out = False
exited_at = None
while True:
    fds = [master] + ([proc.stdout] if pipe and proc.stdout and not proc.stdout.closed else [])
    ready, _, _ = select.select(fds, [], [], 0.05)
    for fd in ready:
        if fd is master:
            try:
                tty += os.read(master, 65536)
            except OSError:
                pass
        else:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if chunk:
                out += chunk
            else:
                proc.stdout.close()
    while steps:
        at = tty.find(steps[0]['waitFor'].encode(), searched) if steps[0].get('waitFor') else searched
        if at < 0:
            break
        # echoOff: also wait until the program has switched the terminal's echo off (raw mode),
        # so a key is read as the program reads keys, not turned into a signal by the terminal
        if steps[0].get('echoOff') and termios.tcgetattr(slave)[3] & termios.ECHO:
            break
        step = steps.pop(0)
        searched = at + len(step.get('waitFor', '').encode())
        if 'send' in step:
            os.write(master, step['send'].encode())
        if 'signal' in step:
            os.killpg(proc.pid, getattr(signal, 'SIG' + step['signal']))
        if 'resize' in step:
            set_size(*step['resize'])
            os.killpg(proc.pid, signal.SIGWINCH)
    if exited_at is None and proc.poll() is not None:
        exited_at = time.time()
    if exited_at is not None and not ready and time.time() - exited_at > 0.3:
        break
    if time.time() > deadline:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        break
code = proc.returncode
after = termios.tcgetattr(slave)
json.dump({
    'exit': 128 - code if code < 0 else code,
    'timedOut': timed_out,
    'pending': len(steps),
    'tty': tty.decode('utf-8', 'replace'),
    'stdout': out.decode('utf-8', 'replace'),
    'lflagRestored': before[3] == after[3],
}, sys.stdout)
