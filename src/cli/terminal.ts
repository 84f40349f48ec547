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
