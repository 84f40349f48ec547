/**
 * Redis URLs as they may be printed. Kept apart from queues.ts, which loads BullMQ: commands
 * import this at start-up.
 */

/**
 * A command line as run.json and checkpoints record it: every Redis URL in it (`--queue
 * redis://:pw@host`, `--queue=…`) with its password replaced by `***`.
 */
export function recordedCommand(words: readonly string[]): string {
  return words.map((word) => word.replace(/(^|=)(rediss?:\/\/\S*)$/i, (_, before: string, url: string) => before + redactRedisUrl(url))).join(' ');
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

/**
 * A Redis URL as it may be printed: its password replaced by `***`. Read as text, not by the
 * URL parser: a password with an unencoded `#`, `/`, `?` or `@` either fails to parse or parses
 * with part of it taken for the host or the path, which the parser's own redaction would
 * print. Everything between the scheme's `//` and the last `@` is the credentials (a Redis URL's
 * host, port and database hold no `@`); after its first `:` is the password.
 */
export function redactRedisUrl(url: string): string {
  const match = /^([a-z][\w+.-]*:\/\/)(.*)@([^@]*)$/is.exec(url);
  if (!match) return url;
  const credentials = match[2]!;
  const colon = credentials.indexOf(':');
  return colon < 0 ? url : `${match[1]}${credentials.slice(0, colon)}:***@${match[3]}`;
}

/** Why a URL with credentials failed to parse, said so that the user can mend it. */
export function redisUrlHint(url: string): string | undefined {
  return /^[a-z][\w+.-]*:\/\/[^@]*[#/?][^@]*@/i.test(url) ? 'A password holding #, / or ? must be percent-encoded in the URL (# as %23, / as %2F, ? as %3F).' : undefined;
}
