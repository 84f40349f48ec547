/**
 * The epoch loop's callbacks as small named objects, in Keras' vocabulary (ModelCheckpoint
 * with save_best_only on val_loss, ReduceLROnPlateau, EarlyStopping): the loop calls them in
 * turn at the end of each epoch instead of carrying their counters in local variables. Each
 * one's state is plain numbers, saved in `last/` with the weights so a resumed run continues
 * the same counters.
 */

/** What a callback sees at the end of an epoch. */
export interface EpochEnd {
  epoch: number;
  valLoss: number;
  valAcc: number;
}

/** Keeps the weights of the epoch with the lowest validation loss (`best/`). */
export class ModelCheckpoint {
  bestValLoss: number;
  bestValAcc: number;
  bestEpoch: number;

  constructor(
    private readonly saveBest: (end: EpochEnd) => Promise<void>,
    state: { bestValLoss: number; bestValAcc: number; bestEpoch: number } = { bestValLoss: Infinity, bestValAcc: 0, bestEpoch: -1 },
  ) {
    this.bestValLoss = state.bestValLoss;
    this.bestValAcc = state.bestValAcc;
    this.bestEpoch = state.bestEpoch;
  }

  /** Saves when validation loss improved; says whether it did. */
  async onEpochEnd(end: EpochEnd): Promise<boolean> {
    if (!(end.valLoss < this.bestValLoss)) return false;
    this.bestValLoss = end.valLoss;
    this.bestValAcc = end.valAcc;
    this.bestEpoch = end.epoch;
    await this.saveBest(end);
    return true;
  }
}

/**
 * Multiplies the learning rate by `factor` after `patience` epochs without a better
 * validation loss (never below `minLearningRate`). Without a config it only counts, so the
 * saved state has the same shape either way.
 */
export class ReduceLROnPlateau {
  constructor(
    private readonly config: { factor: number; patience: number; minLearningRate?: number } | undefined,
    /** epochs since the last improvement or reduction */
    public wait = 0,
  ) {}

  /** The learning rate for the next epoch. */
  onEpochEnd(improved: boolean, lr: number): number {
    if (improved) {
      this.wait = 0;
      return lr;
    }
    this.wait++;
    if (!this.config || this.wait < this.config.patience) return lr;
    this.wait = 0;
    return Math.max(this.config.minLearningRate ?? 0, lr * this.config.factor);
  }
}

/**
 * Stops training when the next epoch would end after a deadline (a run's time budget): the
 * epoch just finished took `seconds`, the next is taken to take as long. The first epoch
 * always runs, so a member that starts late still has a checkpoint.
 */
export class TimeLimit {
  stopped = false;

  constructor(
    /** epoch-milliseconds (Date.now()) by which training should be over; none: no limit */
    private readonly deadline: number | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  onEpochEnd(seconds: number): boolean {
    this.stopped = this.deadline !== undefined && this.now() + seconds * 1000 > this.deadline;
    return this.stopped;
  }
}

/** Stops training after `patience` epochs without a better validation loss. */
export class EarlyStopping {
  /** whether training has stopped (a resumed member that had stopped stays stopped) */
  stopped: boolean;

  constructor(
    private readonly patience: number | undefined,
    /** epochs since the best one */
    public sinceBest = 0,
    resumed = false,
  ) {
    this.stopped = resumed && this.patience !== undefined && this.sinceBest > 0 && this.sinceBest >= this.patience;
  }

  onEpochEnd(improved: boolean): boolean {
    this.sinceBest = improved ? 0 : this.sinceBest + 1;
    // Only an epoch that did not improve can stop it (as Keras's EarlyStopping): with patience 0,
    // `0 >= 0` stopped training after an epoch that was a new best (until session 42).
    this.stopped = this.patience !== undefined && !improved && this.sinceBest >= this.patience;
    return this.stopped;
  }
}
