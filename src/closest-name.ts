/**
 * Edits between two names, a swap of two neighbouring letters counting as one (the
 * optimal-string-alignment form of the Damerau–Levenshtein distance): the commonest typo is a
 * transposition, and plain Levenshtein counts it as two, so `rusn` was nearer `run` (one letter
 * dropped) than `runs` until session 43.
 */
export function editDistance(a: string, b: string): number {
  const [x, y] = [[...a], [...b]];
  // d[i][j]: edits from the first i letters of x to the first j of y
  const d = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[x.length]![y.length]!;
}

/**
 * The name closest to `typed` (a command, a flag), if it is close enough to be a typo of it. Of
 * names equally close, the one as long as what was typed comes first (`rusn` is one swap from
 * `runs` and one dropped letter from `run`: a swap keeps the length).
 */
export function closestName(typed: string, names: readonly string[]): string | undefined {
  const lengthGap = (name: string) => Math.abs([...name].length - [...typed].length);
  const best = names.map((name) => ({ name, distance: editDistance(typed, name) })).sort((a, b) => a.distance - b.distance || lengthGap(a.name) - lengthGap(b.name))[0];
  return best && best.distance <= Math.max(2, Math.floor(typed.length / 3)) ? best.name : undefined;
}
