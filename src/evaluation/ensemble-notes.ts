/**
 * The notes `evaluate` saves beside the ensemble's figures (`ensemble.warnings` in
 * evaluation.json, printed by evaluate, the dashboard and the report): sentences made from
 * figures alone, so that every case can be checked without training.
 */

/** A member whose training failed, as run.json records it. */
export interface FailedMember {
  name: string;
  error: string;
}

/** The first line of a recorded error (a stack or a worker's output can follow it). */
export function firstLine(error: string | undefined): string {
  const line = (error ?? '').split('\n')[0]!.trim();
  return line || 'no error recorded';
}

/**
 * Members of a shared-split or bagged ensemble that failed to train: the ensemble and its
 * figures are of the others (k-fold runs say it with the folds their ensemble covers instead).
 */
export function failedMembersNote(failed: readonly FailedMember[], trained: number): string | null {
  if (failed.length === 0) return null;
  const one = failed.length === 1;
  const named = failed.map((m) => `${m.name} (${m.error})`).join(', ');
  return `member${one ? '' : 's'} ${named} failed to train: the ensemble and its figures are of the ${trained === 1 ? 'one member' : `${trained} members`} that trained`;
}
