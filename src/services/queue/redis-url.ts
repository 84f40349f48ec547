/**
 * Redis URLs as they may be printed. Kept apart from queues.ts, which loads BullMQ: commands
 * import this at start-up.
 */

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
