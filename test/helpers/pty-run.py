#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, as a person at a terminal would, for the tests (test/helpers/pty.ts).

Reads one JSON object on stdin:
  {"cmd": [...], "cwd": ".", "env": {...}, "cols": 80, "rows": 24,
   "stdoutPipe": false,            # stdout to a pipe (as `| less`), stdin and stderr on the terminal
   "steps": [{"waitFor": "text", "echoOff": true, "send": "q"}, {"waitFor": "text", "resize": [60, 20]},
             {"waitFor": "text", "signal": "INT"}, {"stopped": true, "signal": "CONT"}],
   "timeout": 60,
   "jobControl": false}            # run it as an interactive shell runs a job (job_shell below)
Each step waits until the terminal output (since the previous step's match) contains
`waitFor` (with "stopped", until the job has stopped: jobControl only), then sends keys, sends a signal to the process group (as the terminal does for
Ctrl-C) or resizes the terminal (SIGWINCH to the process group).
Writes one JSON object: exit (as a shell reports it: 128+signal when killed), signal (the
signal's name when the process died by one, else null: a shell's 130 cannot tell "killed by
SIGINT" from "exit(130)"), timedOut,
pending (steps not reached), tty (the terminal output, latin-1), stdout (when piped) and
lflagRestored (the terminal's local modes, echo among them, are as before) and
lflagRestoredWhenStopped (the same, at each "stopped" step).
"""
import fcntl, json, os, pty, select, signal, struct, subprocess, sys, termios, time

STOPPED = '[job stopped]'

def job_shell(cmd):
    """What an interactive shell does for a job: the command in a process group of its own, in
    the foreground of the terminal; when it stops (Ctrl-Z), the terminal taken back and
    STOPPED printed; on SIGCONT to this process (the test's "fg"), the terminal given back and
    the job continued. Ends with the job's status as a shell reports it. Without it the command
    would lead a process group with no parent in its session, an orphaned one, whose stop
    signals the kernel discards."""
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # tcsetpgrp from the background
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCONT})
    child = os.fork()
    if child == 0:
        os.setpgid(0, 0)
        os.tcsetpgrp(0, os.getpid())  # before exec: a job in the background stops at its first tcsetattr
        signal.signal(signal.SIGTTOU, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCONT})
        os.execvp(cmd[0], cmd)
    try:
        os.setpgid(child, child)
    except OSError:
        pass  # the child did it first and has exec'd
    while True:
        _, status = os.waitpid(child, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)
        os.tcsetpgrp(0, os.getpgrp())
        os.write(2, ('\r\n' + STOPPED + '\r\n').encode())
        signal.sigwait({signal.SIGCONT})
        os.tcsetpgrp(0, child)
        os.killpg(child, signal.SIGCONT)

def kill_session(sid):
    """SIGKILL to every process of the session (a job shell's job has a process group of its own)."""
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    if int(f.read().rsplit(')', 1)[1].split()[3]) == sid:
                        os.kill(int(entry), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass

if len(sys.argv) > 2 and sys.argv[1] == '--job-shell':
    job_shell(sys.argv[2:])

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
cmd = [sys.executable, os.path.abspath(__file__), '--job-shell'] + spec['cmd'] if spec.get('jobControl') else spec['cmd']
proc = subprocess.Popen(cmd, cwd=spec.get('cwd'), env=env, stdin=slave,
                        stdout=subprocess.PIPE if pipe else slave, stderr=slave,
                        start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
steps = list(spec.get('steps', []))
stopped_lflag = []
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
        # stopped (jobControl): also wait for the job shell's report that the job stopped (Ctrl-Z)
        if steps[0].get('stopped'):
            at = tty.find(STOPPED.encode(), searched)
            if at < 0:
                break
            # the terminal as the shell gets it back: its local modes (echo…) as before
            stopped_lflag.append(termios.tcgetattr(slave)[3] == before[3])
            at += len(STOPPED)
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
        kill_session(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        break
code = proc.returncode
after = termios.tcgetattr(slave)
json.dump({
    'exit': 128 - code if code < 0 else code,
    'signal': signal.Signals(-code).name if code < 0 else None,
    'timedOut': timed_out,
    'pending': len(steps),
    'tty': tty.decode('utf-8', 'replace'),
    'stdout': out.decode('utf-8', 'replace'),
    'lflagRestored': before[3] == after[3],
    'lflagRestoredWhenStopped': stopped_lflag,
}, sys.stdout)
