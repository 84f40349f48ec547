/**
 * Ctrl-Z while a view holds the terminal. In raw mode the terminal no longer turns Ctrl-Z into
 * SIGTSTP: it arrives as a key, and nothing happened (session 35's terminal review). A view
 * that sees it gives the terminal back (its Ink instance unmounted: raw mode off, cursor shown,
 * its last frame left as it is), stops the whole job as the terminal's own Ctrl-Z does, and
 * mounts itself again below the shell's lines when the shell continues it (`fg`, SIGCONT).
 */

/**
 * Stops this job until it is continued, then calls `resume`. The caller has given the terminal
 * back already. The whole process group is stopped, not this process alone: under `npm start`
 * the shell waits on npm, and would never see its job stop.
 */
export function stopJob(resume: () => void): void {
  // Until SIGCONT: a handle that keeps the event loop alive (the view's stdin no longer does),
  // so that the continuation runs; the view is mounted again only then, never before the stop
  // has landed (with raw mode back on, the shell would get a terminal it cannot use).
  const alive = setInterval(() => {}, 1 << 30);
  process.once('SIGCONT', () => {
    clearInterval(alive);
    resume();
  });
  process.kill(0, 'SIGTSTP');
}

/** Ctrl-Z as Ink reports it (also inside a chunk of several keys, which Ink passes on as one input). */
export function isSuspendKey(input: string, key: { ctrl: boolean }): boolean {
  return (key.ctrl && input === 'z') || input.includes('\u001A');
}
