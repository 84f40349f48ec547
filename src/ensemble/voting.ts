/** Combining members' class probabilities: soft voting (optionally weighted), hard voting, and bagged members' out-of-bag votes. */
import { argmaxRow, CLASSES } from '../evaluation/metrics.js';
import type { FoldPredictions } from '../evaluation/cross-validation.js';

function checkMembers(memberProbs: readonly Float32Array[], what: string): number {
  if (memberProbs.length === 0) throw new RangeError(`${what}: no members to combine`);
  const length = memberProbs[0]!.length;
  if (length % CLASSES !== 0) throw new RangeError(`${what}: ${length} probabilities are not rows of ${CLASSES} classes`);
  memberProbs.forEach((probs, i) => {
    if (probs.length !== length) throw new RangeError(`${what}: member ${i} has ${probs.length} probabilities, member 0 has ${length}`);
  });
  return length / CLASSES;
}

/**
 * Soft voting: the (weighted) mean of the members' probabilities. Weights default to equal,
 * must be ≥ 0 with a positive sum, and are normalised by their sum.
 */
export function softVote(memberProbs: readonly Float32Array[], weights?: readonly number[]): Float32Array {
  checkMembers(memberProbs, 'softVote');
  const w = weights ?? memberProbs.map(() => 1);
  if (w.length !== memberProbs.length) throw new RangeError(`softVote: ${w.length} weights for ${memberProbs.length} members`);
  if (w.some((x) => !Number.isFinite(x) || x < 0)) throw new RangeError(`softVote: weights must be finite and ≥ 0, got ${w.join(', ')}`);
  const total = w.reduce((a, b) => a + b, 0);
  if (total <= 0) throw new RangeError('softVote: the weights sum to 0');
  const length = memberProbs[0]!.length;
  const sum = new Float64Array(length);
  memberProbs.forEach((probs, m) => {
    const weight = w[m]! / total;
    if (weight === 0) return;
    for (let i = 0; i < length; i++) sum[i]! += weight * probs[i]!;
  });
  return Float32Array.from(sum);
}

/**
 * Hard voting: each member votes for its argmax; the class with most votes wins, a tie
 * goes to the tied class with the larger summed probability over the members, and a tie
 * of both to the lower label.
 */
export function hardVoteLabels(memberProbs: readonly Float32Array[]): Uint8Array {
  const rows = checkMembers(memberProbs, 'hardVote');
  const out = new Uint8Array(rows);
  const votes = new Int32Array(CLASSES);
  const sums = new Float64Array(CLASSES);
  for (let r = 0; r < rows; r++) {
    votes.fill(0);
    sums.fill(0);
    for (const probs of memberProbs) {
      votes[argmaxRow(probs, r)]!++;
      for (let c = 0; c < CLASSES; c++) sums[c]! += probs[r * CLASSES + c]!;
    }
    let best = 0;
    for (let c = 1; c < CLASSES; c++) {
      if (votes[c]! > votes[best]! || (votes[c] === votes[best] && sums[c]! > sums[best]!)) best = c;
    }
    out[r] = best;
  }
  return out;
}

/**
 * Hard voting as probabilities, so it can be scored like any other prediction: each row is
 * the members' vote shares mixed with the soft vote at weight α = 1/(2(M+1)) for M members,
 * i.e. (1 − α)·votes/M + α·mean. One vote is worth (1 − α)/M > α, more than the soft part
 * can ever add, so the argmax of a row is exactly `hardVoteLabels` (a tie of votes goes to
 * the larger summed probability); the soft part also keeps the log-loss finite when no
 * member voted for the true class.
 */
export function hardVote(memberProbs: readonly Float32Array[]): Float32Array {
  const rows = checkMembers(memberProbs, 'hardVote');
  const winners = hardVoteLabels(memberProbs);
  const members = memberProbs.length;
  const alpha = 1 / (2 * (members + 1));
  const out = new Float32Array(rows * CLASSES);
  const row = new Float64Array(CLASSES);
  for (let r = 0; r < rows; r++) {
    row.fill(0);
    for (const probs of memberProbs) {
      row[argmaxRow(probs, r)]! += (1 - alpha) / members;
      for (let c = 0; c < CLASSES; c++) row[c]! += (alpha / members) * probs[r * CLASSES + c]!;
    }
    const base = r * CLASSES;
    for (let c = 0; c < CLASSES; c++) out[base + c] = row[c]!;
    // Rounding to float32 can make the winner equal to a tied class; lift it by one ulp.
    const winner = winners[r]!;
    for (let c = 0; c < CLASSES; c++) {
      while (c !== winner && (c < winner ? out[base + c]! >= out[base + winner]! : out[base + c]! > out[base + winner]!)) {
        out[base + winner] = nextFloat32Up(out[base + winner]!);
      }
    }
  }
  return out;
}

function nextFloat32Up(value: number): number {
  const buffer = new Float32Array([value]);
  const bits = new Uint32Array(buffer.buffer);
  bits[0]! += value >= 0 ? 1 : -1;
  return buffer[0]!;
}

/**
 * Out-of-bag votes of a bagged ensemble (each member validated on rows of its own): every row
 * some member held out, ascending, voted by the members that held it out and by no other, as
 * a random forest's out-of-bag estimate is (Breiman 1996). `voters[i]` is how many voted on
 * row i. Soft: the mean of their probabilities; hard: their majority (`hardVote`).
 */
export function outOfBag(members: readonly FoldPredictions[]): { rows: number[]; soft: Float32Array; hard: Float32Array; voters: number[] } {
  const sources = new Map<number, Array<{ member: number; at: number }>>();
  members.forEach((m, member) => {
    if (m.probs.length !== m.rows.length * CLASSES) throw new RangeError(`outOfBag: member ${member} has ${m.probs.length} probabilities for ${m.rows.length} rows`);
    for (let i = 0; i < m.rows.length; i++) {
      const row = m.rows[i]!;
      const list = sources.get(row) ?? [];
      list.push({ member, at: i });
      sources.set(row, list);
    }
  });
  const rows = [...sources.keys()].sort((a, b) => a - b);
  const soft = new Float32Array(rows.length * CLASSES);
  const hard = new Float32Array(rows.length * CLASSES);
  const voters = rows.map((row, i) => {
    const votes = sources.get(row)!.map((s) => members[s.member]!.probs.subarray(s.at * CLASSES, (s.at + 1) * CLASSES));
    soft.set(softVote(votes), i * CLASSES);
    hard.set(hardVote(votes), i * CLASSES);
    return votes.length;
  });
  return { rows, soft, hard, voters };
}
