/**
 * Whether a stream is a terminal a live view (Ink, progress bars) can draw on. Not in CI as
 * Ink detects it (is-in-ci: CI or CONTINUOUS_INTEGRATION set and not "0" or "false"; there Ink
 * writes nothing until it unmounts, so a live view is a blank screen for the whole job), and
 * not on TERM=dumb, which cannot move the cursor.
 */
export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const set = (key: string) => key in env && env[key] !== '0' && env[key] !== 'false';
  return set('CI') || set('CONTINUOUS_INTEGRATION');
}

export function liveTerminal(stream: { isTTY?: boolean; columns?: number } = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  // A terminal that reports 0 columns (`stty cols 0`, some serial consoles) gets plain lines:
  // Ink laid the live view out 0 wide, every cell run together ("memberepochlossacc…").
  return Boolean(stream.isTTY) && !inCi(env) && env.TERM !== 'dumb' && stream.columns !== 0;
}

/**
 * When the reader of stdout or stderr goes away (`digits train … 2>&1 | head -1`, `| grep -m1`),
 * writes to it fail with EPIPE. Node ignores SIGPIPE, so the failure is an 'error' event, which
 * with no listener is an uncaught exception: training died with exit 1 and pretraining with 7
 * (the handler itself threw writing to the closed stderr), each leaving its lock and no
 * checkpoint (until session 43). A closed stream is dropped instead: its output has no reader,
 * and the job goes on to its end, saving what it would have saved (Ctrl-C still stops it).
 */
export function dropClosedOutput(streams: readonly NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    if ((stream as { digitsDropsClosed?: boolean }).digitsDropsClosed) continue;
    (stream as { digitsDropsClosed?: boolean }).digitsDropsClosed = true;
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      // every later write succeeds at once and goes nowhere (a callback, when given, is still called)
      stream.write = ((_chunk: unknown, encoding?: unknown, callback?: unknown) => {
        const done = typeof encoding === 'function' ? encoding : callback;
        if (typeof done === 'function') process.nextTick(done as () => void);
        return true;
      }) as typeof stream.write;
    });
  }
}
