import levenshtein from 'fast-levenshtein';

/** The name closest to `typed` (a command, a flag), if it is close enough to be a typo of it. */
export function closestName(typed: string, names: readonly string[]): string | undefined {
  const best = names.map((name) => ({ name, distance: levenshtein.get(typed, name) })).sort((a, b) => a.distance - b.distance)[0];
  return best && best.distance <= Math.max(2, Math.floor(typed.length / 3)) ? best.name : undefined;
}
