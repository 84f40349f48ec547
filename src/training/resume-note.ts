/**
 * How a member's start reads: '' for a fresh start, `resumed at epoch k` (1-based), or, when
 * the checkpoint it resumed from had all `epochs` done (a finished member run again by
 * `--resume`), `already trained (n epochs)`.
 */
export function resumeNote(resumedAt: number | undefined, epochs: number | undefined): string {
  if (!resumedAt) return '';
  if (epochs !== undefined && resumedAt >= epochs) return `already trained (${epochs} epoch${epochs === 1 ? '' : 's'})`;
  return `resumed at epoch ${resumedAt + 1}`;
}
