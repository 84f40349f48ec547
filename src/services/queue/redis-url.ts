/**
 * Redis URLs as they may be printed. Kept apart from queues.ts, which loads BullMQ: commands
 * import this at start-up.
 */

/**
 * A command line as run.json and checkpoints record it: every Redis URL in it (`--queue
 * redis://:pw@host`, `--queue=…`) with its password replaced by `***`.
 */
export function recordedCommand(words: readonly string[]): string {
  return words.map((word) => word.replace(/(^|=)(rediss?:\/\/\S*)$/, (_, before: string, url: string) => before + redactRedisUrl(url))).join(' ');
}

/**
 * The queue a `train`/`search` enqueues on, as its first line names it: redacted, and marked
 * when it came from the environment rather than a flag typed (an exported DIGITS_QUEUE makes
 * every `digits train` enqueue, which should not go unnoticed).
 */
export function queueNamed(url: string, argv: readonly string[]): string {
  const typed = argv.some((word) => word === '--queue' || word.startsWith('--queue='));
  return `${redactRedisUrl(url)}${typed ? '' : ' (from DIGITS_QUEUE)'}`;
}

/** A Redis URL as it may be printed: its password replaced by `***`. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
