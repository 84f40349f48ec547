/**
 * Members that start from a checkpoint trained on this very competition (a run's own member,
 * fine-tuned again: "continue my best member at a lower rate"). Its rows may include the ones
 * the new members hold out, so their held-out figures are optimistic, as a search's are on the
 * rows that chose its trials. Told by the init's `metadata.json`: its `dataFingerprint` is this
 * dataset's (with or without the corrections it added). The shipped checkpoints record MNIST's.
 */
import { readCheckpointMetadata } from '../model/checkpoint.js';
import type { CheckpointMetadata } from '../model/checkpoint-metadata.js';

/** Whether a checkpoint's metadata says it was trained on the dataset of `fingerprint` (its corrections aside). */
export function trainedOnThisData(metadata: Pick<CheckpointMetadata, 'dataFingerprint'> | null, fingerprint: string): boolean {
  return metadata?.dataFingerprint?.split('+')[0] === fingerprint;
}

export async function initsTrainedOnThisData(members: ReadonlyArray<{ name: string; init?: string }>, fingerprint: string): Promise<string[]> {
  const names: string[] = [];
  for (const member of members) {
    if (!member.init) continue;
    if (trainedOnThisData(await readCheckpointMetadata(member.init).catch(() => null), fingerprint)) names.push(member.name);
  }
  return names;
}

/** What evaluate and train say of such members. */
export function initLeakNote(names: readonly string[]): string {
  const who = names.length === 1 ? `member ${names[0]} starts` : `members ${names.join(', ')} start`;
  return `${who} from a checkpoint trained on this competition's rows (its metadata's data fingerprint is this dataset's): rows held out now may have trained it, so the held-out figures, and the TTA and weights decided on them, are optimistic; start from a checkpoint trained elsewhere, or hold out the rows its run held out (the same "validation")`;
}
