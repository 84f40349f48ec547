/**
 * An exponential moving average of a network's weights (Polyak averaging, as in TensorFlow's
 * `tf.train.ExponentialMovingAverage` and timm's ModelEma): after every step
 * `average ← average + (1 − d)(weights − average)`, with the decay warmed up as
 * d = min(decay, (1 + t)/(10 + t)) over the first updates so that an average started from a
 * checkpoint follows the first steps instead of staying at the checkpoint. Moving statistics
 * (BN) are averaged with the parameters. Both trainers (ORT and tfjs) keep one; it works on
 * plain arrays in whatever layout the trainer holds them.
 */
export class WeightAverage {
  readonly decay: number;
  /** the averaged arrays, same order and sizes as the ones `update` is given */
  values: Float32Array[];
  /** updates so far (drives the warm-up) */
  updates: number;

  constructor(decay: number, initial: readonly Float32Array[], updates = 0) {
    if (!(decay > 0 && decay < 1)) throw new Error(`the weight average's decay must lie in (0, 1), got ${decay}`);
    this.decay = decay;
    this.values = initial.map((a) => Float32Array.from(a));
    this.updates = updates;
  }

  /** The decay the next update uses. */
  nextDecay(): number {
    const t = this.updates + 1;
    return Math.min(this.decay, (1 + t) / (10 + t));
  }

  update(current: readonly Float32Array[]): void {
    if (current.length !== this.values.length) throw new Error(`the weight average holds ${this.values.length} arrays, got ${current.length}`);
    const rate = 1 - this.nextDecay();
    for (let i = 0; i < current.length; i++) {
      const avg = this.values[i]!;
      const cur = current[i]!;
      if (cur.length !== avg.length) throw new Error(`the weight average's array ${i} has ${avg.length} values, got ${cur.length}`);
      for (let j = 0; j < avg.length; j++) avg[j] = avg[j]! + rate * (cur[j]! - avg[j]!);
    }
    this.updates++;
  }
}
