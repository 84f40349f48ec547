/**
 * What a competition's training labels cannot support: a digit with no training rows, or
 * with too few for held-out figures to say anything about it (and, under k-fold, fewer rows
 * than folds, so some folds validate none of it). Kaggle's digit competitions have all ten
 * digits by the thousand; a cut-down or hand-made one may not, and nothing else says so.
 */

/** Below this many training rows a digit's held-out figures rest on a row or two. */
export const FEW_ROWS_PER_CLASS = 10;

export function classCoverageWarnings(classCounts: readonly number[], options: { folds?: number } = {}): string[] {
  const warnings: string[] = [];
  const missing = classCounts.flatMap((count, digit) => (count === 0 ? [digit] : []));
  if (missing.length > 0 && missing.length < classCounts.length) {
    const which = missing.length === 1 ? `digit ${missing[0]} has` : `digits ${missing.join(', ')} have`;
    warnings.push(`${which} no training rows: networks fine-tuned from a checkpoint can still predict ${missing.length === 1 ? 'it' : 'them'}, from-scratch ones cannot, and no held-out figure scores ${missing.length === 1 ? 'it' : 'them'}`);
  }
  const folds = options.folds && options.folds >= 2 ? options.folds : 0;
  const listed = (digits: number[]) => `${digits.length === 1 ? 'digit' : 'digits'} ${digits.map((digit) => `${digit}: ${classCounts[digit]}`).join(', ')}`;
  const them = (digits: number[]) => (digits.length === 1 ? 'it' : 'them');
  const few = classCounts.flatMap((count, digit) => (count > 0 && count < FEW_ROWS_PER_CLASS ? [digit] : []));
  if (few.length > 0) {
    const short = folds ? few.filter((digit) => classCounts[digit]! < folds) : [];
    const foldNote = short.length > 0 ? `; fewer than the ${folds} folds for ${short.join(', ')}, so some folds validate none of ${them(short)}` : '';
    warnings.push(`few training rows for ${listed(few)}: held-out figures for ${them(few)} rest on a row or two${foldNote}`);
  }
  // Enough rows, but more folds than rows: the folds are what is short (200 folds of ~100 rows a digit read as "a row or two").
  const underFolds = folds ? classCounts.flatMap((count, digit) => (count >= FEW_ROWS_PER_CLASS && count < folds ? [digit] : [])) : [];
  if (underFolds.length > 0) {
    warnings.push(`${folds} folds are more than the training rows of ${listed(underFolds)}: some folds validate none of ${them(underFolds)}; fewer folds (5 or 10, as usual) validate every digit in every fold`);
  }
  // Heavy imbalance: a digit with more than 30% of the rows, or five times another's (MNIST's
  // range is 1.24 times). Checkpoints pretrained on balanced digits meet batches unlike theirs
  // (batch normalisation normalises by the batch), and a 90%-one-digit competition scored below
  // always predicting that digit in session 42's probe.
  const imbalance = heavyImbalance(classCounts);
  if (imbalance) {
    // (against the rarest other digit with enough rows to weigh; with none there is no "against":
    // it read "4 against 4 for the rarest", the largest against itself, until session 43)
    const fewer = imbalance.smallest !== null && classCounts.some((count) => count > 0 && count < FEW_ROWS_PER_CLASS);
    const against = imbalance.smallest === null ? '' : `, ${imbalance.largest} against ${imbalance.smallest} for the rarest${fewer ? ` of those with ${FEW_ROWS_PER_CLASS} rows or more` : ''}`;
    warnings.push(`the training labels are heavily imbalanced (digit ${imbalance.digit}: ${Math.round(100 * imbalance.share)}% of the rows${against}): networks pretrained on balanced digits fine-tune badly on batches this lopsided, so auto draws every digit equally often in each epoch ("sampling": "balanced"); an ensemble file of your own can say so too`);
  }
  return warnings;
}

/**
 * Heavily imbalanced labels: a digit with more than 30% of the rows, or five times another's
 * among digits of at least FEW_ROWS_PER_CLASS rows (MNIST's range is 1.24 times; digits with
 * fewer rows are said on their own). `smallest` is the rarest other digit of that many rows,
 * null when there is none. Null when balanced enough.
 */
export function heavyImbalance(classCounts: readonly number[]): { digit: number; share: number; largest: number; smallest: number | null } | null {
  const present = classCounts.filter((count) => count > 0);
  const total = present.reduce((a, b) => a + b, 0);
  if (present.length < 2 || total === 0) return null;
  const largest = Math.max(...present);
  const digit = classCounts.indexOf(largest);
  // (the largest digit itself left out: it was its own "rarest" when no other had enough rows)
  const others = classCounts.filter((count, d) => d !== digit && count >= FEW_ROWS_PER_CLASS);
  const smallest = others.length > 0 ? Math.min(...others) : null;
  if (!(largest / total > 0.3 || (smallest !== null && largest >= 5 * smallest))) return null;
  return { digit, share: largest / total, largest, smallest };
}
