/**
 * The built-in ensemble `auto` (the default of `digits run`): not a fixed list of members but
 * a recipe chosen for the competition at hand within a time budget. This module holds the
 * pure parts: how the budget is shared out (probes, then members), which augmentation suits
 * the images, which probe wins, and the ensemble the decisions make. The probes themselves
 * run in src/services/auto.ts; every figure they produce is kept in an `AutoRecord`, written
 * to the run folder, so a user sees why the recipe is what it is.
 */
import type { BackgroundProfile } from '../data/background.js';
import type { NoiseFit, NoiseModel } from '../data/noise-model.js';
import { DEFAULT_FOLDS } from '../data/splits.js';
import type { AugmentationConfig } from '../model/augmentation-config.js';
import type { MemberConfig } from '../training/train-member.js';
import type { Start } from '../training/search/space.js';
import { startCheckpoints } from '../training/search/space.js';
import { memberFromInput, withFolds, type EnsembleSpec, type MemberOverrides } from './ensemble-spec.js';
import { commonFixableSystemError } from '../errors.js';

/** Share of the budget spent choosing the recipe, at most. */
export const CHOOSING_SHARE = 0.25;
/** Training img/s of one seed002/deotte worker assumed before anything is measured (2-core VM: ~400). */
export const PRIOR_IMAGES_PER_SECOND = 400;
/**
 * The network of auto's probes and members (`digits run --preset` picks another). deotte
 * (seed002's trunk with the softmax straight after it) voted a lower holdout log-loss on 5 of
 * 9 competitions but the same test accuracy, and its range tests from the clean checkpoint end
 * an order of magnitude above the rates that work, so auto keeps seed002 (README, "The
 * network").
 */
export const AUTO_PRESET = 'seed002';
export const AUTO_BATCH = 64;
/** Epochs a member wants from each start, and the fewest worth training. */
export const EPOCH_TARGETS: Record<Start, { target: number; min: number }> = {
  noisy: { target: 4, min: 2 },
  clean: { target: 8, min: 3 },
  scratch: { target: 15, min: 6 },
};
/**
 * With synthetic rows (a fitted noise model, `src/data/noise-model.ts`) an epoch is about
 * MNIST-sized: 9 epochs over it per member, at least 1, and as few as SYNTHETIC_MIN_MEMBERS
 * members before epochs are cut. Measured on holdout rows: one member trained 3 epochs over
 * 10,800 competition rows + 43,200 synthetic ones beat twelve members of 5–6 epochs over the
 * competition rows alone (README, "Synthetic rows"). Session 53, on rows no network trained on
 * (contrast + AWGN): members of 3, 6 and 9 such epochs kept improving, and their votes saturate
 * at two (the synthetic rows are the same for all), so two members of 9 epochs beat six of 3
 * for the same time (README, "Longer members with synthetic rows").
 */
export const SYNTHETIC_EPOCH_TARGETS = { target: 9, min: 1 };
/** With synthetic rows, the fewest members before their epochs are cut (see SYNTHETIC_EPOCH_TARGETS). */
export const SYNTHETIC_MIN_MEMBERS = 2;
/** Synthetic rows bring the training rows up to this many (MNIST train's size, less its holdout). */
export const SYNTHETIC_TOTAL_ROWS = 54_000;

/**
 * The families whose rows are not added unless `--synthetic-rows` asks for them, and why: the
 * measurement that kept them out (README, "Synthetic rows"). Every other family's rows are
 * added by default.
 */
export const ROWS_NOT_BY_DEFAULT: Partial<Record<NoiseModel['kind'], string>> = {
  maximum:
    "its rows are not added by default (the noisy checkpoints were pretrained on this noise, and on npm start's competition the rows lowered the score on digits no network trained on; README \"Uniform-maximum noise\"); --synthetic-rows N adds them",
};

/** How many synthetic rows to add to `trainRows` competition rows. */
export function syntheticRowCount(trainRows: number): number {
  return Math.max(0, SYNTHETIC_TOTAL_ROWS - trainRows);
}

/**
 * What validating one row after each epoch costs a member, in training rows (the model is
 * exported to ONNX and scored on one thread while the other workers train). Measured on `npm
 * start`'s k-fold run of session 40: its members of 9,000 training and 3,000 validation rows took
 * 19.9–21.3 s an epoch where the probes, of 10,800 and 1,200, had taken 21.6 s: 0.5–0.6 of a
 * training row each. Counted explicitly since session 41: a tenth off the probes' speed had
 * covered the holdout's 1,200 rows, not k-fold's 3,000, and that run's last two members were cut
 * at the deadline after 4 of their 7 epochs.
 */
export const VALIDATION_ROW_COST = 0.55;
/**
 * Seconds a worker spends between one member's last epoch and the next member's first (loading
 * the dataset and the checkpoint, building the training graph): 6–9 s in that run, which the
 * plan had not counted (6 rounds × 8 s of its 838 s).
 */
export const MEMBER_START_SECONDS = 8;
/**
 * The share of the probes' measured speed a plan counts on: 5% off for a machine that slows
 * after the probes (that run's epochs went from 19.9 to 21.3 s); a tenth until session 41, when
 * it also stood for validation and the members' start.
 */
export const PLAN_SPEED_MARGIN = 0.95;

/** An epoch's work in training rows: its training rows, and its validation rows at VALIDATION_ROW_COST. */
export function epochRows(trainRows: number, validationRows: number): number {
  return trainRows + VALIDATION_ROW_COST * validationRows;
}

export const MAX_MEMBERS = 12;
/** Fewer members than this: shorten the members instead (an ensemble of one or two gains little; with synthetic rows SYNTHETIC_MIN_MEMBERS, where two long members beat more short ones). */
export const MIN_MEMBERS = 4;
/** Each member's rate is its base rate times these, in turn (a little diversity around it). */
export const RATE_FACTORS = [1, 0.7, 1.4];

/* ---------- augmentation ---------- */

export interface AugmentationChoice {
  config: AugmentationConfig;
  reason: string;
}

/**
 * Noisy backgrounds get whole-pixel shifts filled from the image's own background (the
 * noise keeps its statistics; rotation, zoom and sub-pixel shifts would interpolate it and
 * paint black borders). Clean backgrounds get the usual Keras ranges of the from-scratch
 * baseline (rotation ±10°, shifts ±10%).
 */
export function chooseAugmentation(profile: BackgroundProfile): AugmentationChoice {
  if (profile.noisy) {
    return { config: { pixelShift: 2 }, reason: `${profile.reason}: whole-pixel shifts up to ±2 with borders drawn from the background, no interpolation` };
  }
  return { config: { rotation: 10, widthShift: 0.1, heightShift: 0.1 }, reason: `${profile.reason}: rotation ±10°, shifts ±10% (black fill matches the background)` };
}

/* ---------- budget ---------- */

export interface ProbePlanInput {
  budgetSeconds: number;
  /** training rows of the holdout split */
  trainRows: number;
  concurrency: number;
  /** starts to probe */
  starts: number;
  /** probes in all (starts × rates tried) */
  probes: number;
  imagesPerSecond?: number;
}

export interface ProbePlan {
  /** seconds the choosing phase may take */
  seconds: number;
  /** batches of each LR range test */
  lrFindSteps: number;
  /** training rows each probe trains on (a seeded subset when fewer than all) */
  probeRows: number;
  probeEpochs: number;
  /** what was planned before the range tests measured the speed, when the probes were cut to fit */
  planned?: { probeRows: number; probeEpochs: number };
}

/**
 * Shares ≤ CHOOSING_SHARE of the budget: a quarter of it for the LR range tests (20–150
 * batches each), the rest for the probes (1–2 epochs on up to all training rows).
 */
export function planProbes(input: ProbePlanInput): ProbePlan {
  const seconds = input.budgetSeconds * CHOOSING_SHARE;
  const images = seconds * (input.imagesPerSecond ?? PRIOR_IMAGES_PER_SECOND) * input.concurrency;
  const lrFindSteps = Math.max(20, Math.min(150, Math.floor((images * 0.25) / (input.starts * AUTO_BATCH))));
  const perProbe = Math.max(0, images - lrFindSteps * AUTO_BATCH * input.starts) / Math.max(1, input.probes);
  const probeEpochs = perProbe >= 2 * input.trainRows ? 2 : 1;
  const probeRows = Math.max(Math.min(input.trainRows, 4 * AUTO_BATCH), Math.min(input.trainRows, Math.floor(perProbe / probeEpochs)));
  return { seconds, lrFindSteps, probeRows, probeEpochs };
}

/**
 * After the range tests, the probes are fitted to what is left of the choosing share at the
 * speed the range tests measured (a busy machine would otherwise overrun the budget):
 * fewer rows per probe, one epoch, never fewer than 4 batches' worth.
 */
export function refitProbes(plan: ProbePlan, input: { secondsLeft: number; imagesPerSecond: number; concurrency: number; probes: number; trainRows: number }): ProbePlan {
  const images = Math.max(0, input.secondsLeft) * input.imagesPerSecond * input.concurrency;
  const perProbe = images / Math.max(1, input.probes);
  if (perProbe >= plan.probeRows * plan.probeEpochs) return plan;
  const floor = Math.min(input.trainRows, 4 * AUTO_BATCH);
  return { ...plan, probeEpochs: 1, probeRows: Math.max(floor, Math.min(plan.probeRows, Math.floor(perProbe))) };
}

export interface MemberPlanInput {
  /** seconds left for training members, evaluation and the submission */
  remainingSeconds: number;
  trainRows: number;
  /**
   * measured training img/s of one worker while the others ran too, in training rows: an
   * epoch takes epochRows(trainRows + syntheticRows, validationRows) / imagesPerSecond seconds
   */
  imagesPerSecond: number;
  concurrency: number;
  start: Start;
  testRows: number;
  validationRows: number;
  /** synthetic rows added to every member's training rows (epochs grow, targets change) */
  syntheticRows?: number;
  /**
   * k-fold cross-validation: members come k at a time (one recipe on each fold), and
   * `trainRows` and `validationRows` are one fold member's ((k − 1)/k and 1/k of the rows)
   */
  folds?: number;
}

export interface MemberPlan {
  /** members trained: under k-fold, recipes × folds */
  members: number;
  /** k-fold: how many recipes, each trained once per fold */
  recipes?: number;
  folds?: number;
  epochs: number;
  /** members trained at once, one after another */
  rounds: number;
  trainSeconds: number;
  /** kept for evaluation (8-way TTA on held-out and test rows), the submission and the report */
  reserveSeconds: number;
  fits: boolean;
  reason: string;
}

/** Inference img/s assumed when the training speed is not known (2-core VM). */
export const PRIOR_INFER_IMAGES_PER_SECOND = 5000;
/**
 * Evaluation's img/s per training img/s of the whole machine. First measured on the
 * generalization bench's impulse-noise run (10 members): 15×. Measured again (session 15,
 * glass blur, 12 members, training at 2 × 590 img/s): `digits evaluate --precision int8` of
 * the finished run, 12 × (1,200 × 9 + 10,000) member-images, took 13.1 s with process
 * start-up, about 19,000 img/s or 16×; the run's whole evaluation, submission and report after
 * training (ONNX export and int8 calibration included) took 34 s against the 220 s the old
 * reserve (8×, 4 s a member, 30 s fixed) had kept, so a quarter of the budget went unused.
 * 12× keeps a quarter of margin on the inference; the fixed parts keep the rest (20 s + 2 s a
 * member against the 34 s all of it took).
 */
export const INFER_PER_TRAIN_SPEED = 12;
/** Per member: ONNX export, int8 calibration, loading its session. */
const RESERVE_PER_MEMBER_SECONDS = 2;
/** Once: the submission, its validation, the report, loading the dataset. */
const RESERVE_FIXED_SECONDS = 20;

/**
 * Seconds after training for `members` members: ONNX export and int8 calibration, then each
 * member over held-out rows with 8-way TTA and once plain, and over test rows (with TTA when
 * it is chosen: counted as 9 passes, the most it can be), plus a fixed part (report,
 * submission, loading). `trainImagesPerSecond` is the machine's measured training speed (all
 * workers); inference is taken as INFER_PER_TRAIN_SPEED times it, or
 * PRIOR_INFER_IMAGES_PER_SECOND when nothing was measured.
 */
export function reserveSeconds(members: number, testRows: number, validationRows: number, trainImagesPerSecond?: number): number {
  const inferSpeed = trainImagesPerSecond ? INFER_PER_TRAIN_SPEED * trainImagesPerSecond : PRIOR_INFER_IMAGES_PER_SECOND;
  return Math.round(RESERVE_FIXED_SECONDS + members * (RESERVE_PER_MEMBER_SECONDS + ((testRows + validationRows) * 9) / inferSpeed));
}

/**
 * The most members a plan may have: MAX_MEMBERS, or under k-fold the most whole recipes of k
 * fold members that it allows (at least one recipe).
 */
export function maxMembers(folds?: number): number {
  return folds ? Math.max(1, Math.floor(MAX_MEMBERS / folds)) * folds : MAX_MEMBERS;
}

/**
 * As many members as fit, each with the start's target epochs; if fewer than MIN_MEMBERS fit
 * (SYNTHETIC_MIN_MEMBERS with synthetic rows),
 * fewer epochs (down to the start's minimum) for more members; members come in rounds of
 * `concurrency` so no worker idles. Under k-fold members come k at a time (a recipe on every
 * fold), in rounds of `concurrency` as well.
 */
export function planMembers(input: MemberPlanInput): MemberPlan {
  const synthetic = input.syntheticRows ?? 0;
  const { target, min } = synthetic > 0 ? SYNTHETIC_EPOCH_TARGETS : EPOCH_TARGETS[input.start];
  const epochSeconds = epochRows(input.trainRows + synthetic, input.validationRows) / input.imagesPerSecond;
  const startName = synthetic > 0 ? `${input.start} start with ${synthetic} synthetic rows` : `${input.start} start`;
  const machineSpeed = input.imagesPerSecond * input.concurrency;
  const folds = input.folds && input.folds >= 2 ? input.folds : undefined;
  const unit = folds ?? input.concurrency;
  const most = maxMembers(folds);
  const roundsOf = (members: number) => Math.ceil(members / input.concurrency);
  // (each round: its members' epochs, and their start on the workers)
  const trainingSeconds = (members: number, epochs: number) => roundsOf(members) * (epochs * epochSeconds + MEMBER_START_SECONDS);
  const cost = (members: number, epochs: number) => trainingSeconds(members, epochs) + reserveSeconds(members, input.testRows, input.validationRows, machineSpeed);
  // The most members (a multiple of the unit, capped) that fit at `epochs`; 0 when none do.
  const fit = (epochs: number) => {
    let best = 0;
    for (let n = 1; (n - 1) * unit < most; n++) {
      const members = Math.min(most, n * unit);
      if (cost(members, epochs) <= input.remainingSeconds) best = members;
    }
    return best;
  };
  const make = (epochs: number, count: number, fits: boolean, why: string): MemberPlan => {
    const members = Math.max(1, Math.min(most, count));
    const rounds = roundsOf(members);
    const trainSeconds = Math.round(trainingSeconds(members, epochs));
    const reserve = reserveSeconds(members, input.testRows, input.validationRows, machineSpeed);
    const what = folds ? `${members / folds} recipe(s) × ${folds} folds = ${members} members` : `${members} members`;
    return {
      members,
      ...(folds ? { recipes: members / folds, folds } : {}),
      epochs,
      rounds,
      trainSeconds,
      reserveSeconds: reserve,
      fits,
      reason: `${why}: ${what} × ${epochs} epoch${epochs === 1 ? '' : 's'} in ${rounds} round(s) of ${input.concurrency} at ${Math.round(input.imagesPerSecond)} img/s per worker ≈ ${trainSeconds}s of training + ${reserve}s to evaluate and submit, of ${Math.round(input.remainingSeconds)}s left`,
    };
  };
  // Members first: as many rounds as fit at the target epochs. Time left over that is less
  // than another round (or any time, once the member cap binds) goes into longer members, up
  // to twice the target: in the first generalization bench, 17 of 24 noisy-start members on
  // two recipes had their best holdout loss at their last (4th) epoch, and no run used more
  // than two thirds of its budget.
  const fewest = synthetic > 0 ? SYNTHETIC_MIN_MEMBERS : MIN_MEMBERS;
  const enough = Math.min(fewest, most);
  for (let epochs = target; epochs >= min; epochs--) {
    const members = fit(epochs);
    if (members >= enough || (epochs === min && members > 0)) {
      if (epochs < target) {
        const why = members >= enough ? `so that ${fewest}+ members fit` : `the least for the ${startName}, and still fewer than ${fewest} members fit`;
        return make(epochs, members, true, `shortened to ${epochs} epoch${epochs === 1 ? '' : 's'} (target ${target}) ${why}`);
      }
      let longer = target;
      while (longer < 2 * target && fit(longer + 1) >= members) longer++;
      if (longer === target) return make(target, members, true, `${target} epochs per member from the ${startName}`);
      const why = members >= most ? `${most} members (the most) fit with time to spare` : `the time left after ${roundsOf(members)} round(s) is less than another round`;
      return make(longer, members, true, `${why}: ${longer} epochs each instead of the ${target} targeted from the ${startName}`);
    }
  }
  // Not even one unit at the minimum: one unit of whatever epochs fit (at least one).
  const members = Math.min(most, unit);
  const spare = input.remainingSeconds - reserveSeconds(members, input.testRows, input.validationRows, machineSpeed);
  const epochs = Math.max(1, Math.floor((spare - roundsOf(members) * MEMBER_START_SECONDS) / (roundsOf(members) * epochSeconds)));
  return make(epochs, members, spare >= trainingSeconds(members, 1), `the budget is short: ${roundsOf(members) === 1 ? 'one round' : `${roundsOf(members)} rounds`} of ${epochs} epoch(s)`);
}

/**
 * The plan with the synthetic rows the budget allows. Synthetic rows make every epoch about
 * MNIST-sized, so on a short budget even one round of one epoch over all of them can overrun
 * it (a 2-minute run on an AWGN competition of 800 rows planned 291 s of training with 94 s
 * left, and took 283 s). Then the rows are cut to what one round of one epoch leaves room for,
 * and dropped altogether when that is fewer than the competition's own training rows (the
 * members then train the start's epochs over the competition's rows, as without a noise model).
 * Rows the user asked for by count are not cut.
 */
export function planWithSyntheticRows(input: MemberPlanInput, options: { userAsked?: boolean } = {}): { plan: MemberPlan; syntheticRows: number } {
  const asked = input.syntheticRows ?? 0;
  const full = planMembers(input);
  // (a count the user gave, `--synthetic-rows N`, is theirs: kept, and the plan says it overruns)
  if (asked === 0 || full.fits || options.userAsked) return { plan: full, syntheticRows: asked };
  const folds = input.folds && input.folds >= 2 ? input.folds : undefined;
  const unit = Math.min(maxMembers(folds), folds ?? input.concurrency);
  const rounds = Math.ceil(unit / input.concurrency);
  const reserve = reserveSeconds(unit, input.testRows, input.validationRows, input.imagesPerSecond * input.concurrency);
  const room = ((input.remainingSeconds - reserve) / rounds - MEMBER_START_SECONDS) * input.imagesPerSecond - epochRows(input.trainRows, input.validationRows);
  const rows = Math.min(asked, Math.max(0, Math.floor(room / 100) * 100));
  const syntheticRows = rows >= input.trainRows ? rows : 0;
  const plan = planMembers({ ...input, syntheticRows });
  const why = syntheticRows > 0
    ? `${syntheticRows} of the ${asked} synthetic rows (one epoch over all of them would not fit the time left)`
    : `no synthetic rows (one epoch over the ${asked} made for this noise would not fit the time left)`;
  return { plan: { ...plan, reason: `${why}; ${plan.reason}` }, syntheticRows };
}

/**
 * The fewest whole recipes the default k-fold plan must fit. Measured on rows no network trained
 * on (README, "k-fold members", sessions 30 and 37): with 2 or 3 recipes × 4 folds the vote tied
 * the holdout plan's or beat it, on all seven competitions; with 1 (Kaggle's clean layout,
 * 42,000 rows: 4 members, all from one checkpoint where the holdout plan fine-tunes four) it
 * would lose what the other checkpoints bring.
 */
export const MIN_DEFAULT_KFOLD_RECIPES = 2;

export interface ValidationChoice {
  kind: 'holdout' | 'kfold';
  /** how it was decided: the user's `--folds`, or the default rule below */
  by: 'flag' | 'default';
  reason: string;
}

/**
 * The default rule: k-fold when its plan fits at least MIN_DEFAULT_KFOLD_RECIPES whole recipes
 * and as many members as the holdout plan, else the holdout plan. Both plans are made from the
 * same probes, speed and time left, so the rule looks at no score.
 */
export function chooseValidation(holdout: MemberPlan, kfold: MemberPlan): ValidationChoice & { plan: MemberPlan } {
  const folds = kfold.folds ?? DEFAULT_FOLDS;
  const recipes = kfold.recipes ?? 0;
  if (kfold.fits && recipes >= MIN_DEFAULT_KFOLD_RECIPES && kfold.members >= holdout.members) {
    return { kind: 'kfold', by: 'default', plan: kfold, reason: `${folds}-fold cross-validation: ${recipes} recipes × ${folds} folds fit (${kfold.members} members, the holdout plan's ${holdout.members}), so every training row gets an out-of-fold prediction and the run reports CV figures; --folds 0 keeps a 10% holdout` };
  }
  const short = !kfold.fits ? `its plan does not fit the budget` : recipes < MIN_DEFAULT_KFOLD_RECIPES ? `only ${recipes === 1 ? 'one recipe' : `${recipes} recipes`} × ${folds} folds fit${recipes === 1 ? ' (one starting checkpoint)' : ''}, under the ${MIN_DEFAULT_KFOLD_RECIPES} it needs` : `it fits ${kfold.members} members where the holdout plan fits ${holdout.members}`;
  return { kind: 'holdout', by: 'default', plan: holdout, reason: `a 10% holdout, not ${folds}-fold cross-validation: ${short}; --folds ${folds} asks for it anyway` };
}

/* ---------- probes ---------- */

export interface LrFindRecord {
  start: Start;
  steps: number;
  suggestion: number;
  lrAtMinimum: number;
  lrAtEdge: number;
  minimumLoss: number;
  reason: string;
  imagesPerSecond: number;
  seconds: number;
  /** the smoothed loss curve, thinned to ≤ 40 points */
  curve: Array<[lr: number, loss: number]>;
}

export interface ProbeRecord {
  start: Start;
  learningRate: number;
  epochs: number;
  rows: number;
  /** best holdout loss and its accuracy */
  valLoss: number;
  valAcc: number;
  imagesPerSecond: number;
  seconds: number;
  error?: string;
}

/**
 * The lowest rates a checkpoint is probed at. Adam moves a weight by about the rate each step,
 * so a 2-epoch probe (~340 steps) at 1e-6 is the checkpoint itself: on the uniform practice
 * competition, whose noise the noisy checkpoint was trained on, its range test rose early (edge
 * 1.8e-5), the probes at 1.8e-6 and 5.9e-7 scored the same holdout loss (0.0379), and the run
 * scored 98.99% where the rate 3.2e-5 had given 99.02%.
 */
export const CHECKPOINT_PROBE_FLOOR = [3e-5, 1e-5] as const;

/**
 * The learning rates each start is probed at, from its range test. Fresh weights: a tenth and
 * a hundredth of the edge (the usual rule, and one decade safer: a short test with batch norm
 * tolerates rates a whole epoch does not). A checkpoint: a tenth and a thirtieth of the edge,
 * no lower than CHECKPOINT_PROBE_FLOOR.
 * Evidence (holdout rows only): with the range test's first batches left out, a checkpoint's
 * edge was 2e-3–7e-3 on impulse noise, AWGN and shot noise, and 2-epoch probes on a grid of
 * rates (bench/probe-grid.ts, 8 corruption benchmarks) had their lowest holdout loss at
 * 3e-5–3e-4 (on the three with a recorded edge, a fifth to a fortieth of it, mostly near a
 * twentieth); 1e-3, the edge's neighbourhood, was never the best.
 */
export function probeRates(start: Start, edge: number): number[] {
  const round = (v: number) => Number(v.toPrecision(2));
  if (start === 'scratch') return [round(edge / 10), round(edge / 100)];
  return [round(Math.max(edge / 10, CHECKPOINT_PROBE_FLOOR[0])), round(Math.max(edge / 30, CHECKPOINT_PROBE_FLOOR[1]))];
}

/**
 * The rate every other member trains at when the chosen start is the clean checkpoint: a
 * third of its range test's edge, when that is at least five times the chosen rate, i.e. when
 * the probes chose the lower of its two rates (else none: every member at the chosen rate).
 * Members fine-tuned from the clean checkpoint at the small rate a 2-epoch probe favours stay
 * close to it and to each other, so their vote gains little over one member; members at the
 * far rate score about as well alone but move further towards the competition's corruption
 * and err differently: 4 + 4 mixed beat 8 at the chosen rate on holdout rows (shot noise,
 * motion blur). From the noisy checkpoint the far members were worse and added nothing.
 * Whole runs gained on motion blur only, so the gain is small: README, "Two rates from the
 * clean checkpoint".
 */
export function spreadRate(start: Start, edge: number, chosen: number): number | undefined {
  if (start !== 'clean' || !(edge > 0)) return undefined;
  const far = Number((edge / 3).toPrecision(2));
  return far >= 5 * chosen ? far : undefined;
}

/** The probe with the lowest holdout loss wins (ties: the earlier probe). */
export function chooseProbe(probes: readonly ProbeRecord[]): ProbeRecord {
  const ok = probes.filter((p) => !p.error && Number.isFinite(p.valLoss));
  if (ok.length === 0) {
    // Every probe failing alike on a full disk (or a folder it may not write) is the user's to put
    // right: said as that error (an internal error with a stack, exit 70, until session 45); any
    // other failure stays a bug to report.
    const system = commonFixableSystemError(probes.map((p) => p.error));
    throw new Error(`every probe failed: ${probes.map((p) => p.error).join('; ')}`, system ? { cause: system } : undefined);
  }
  return ok.reduce((best, p) => (p.valLoss < best.valLoss ? p : best));
}

/**
 * auto's choice as it is printed and recorded: the winning probe's start and rate, why, and the
 * second rate (`spread`, from `spreadRate`) only where the plan trains a second recipe at it
 * (rates go round by recipe: a plan of one member, or of one recipe × k folds, trains every
 * member at the chosen rate; until session 44 the choice still said "every other member at …").
 */
export function describeChoice(probes: readonly ProbeRecord[], best: ProbeRecord, spread: number | undefined, plan: Pick<MemberPlan, 'members' | 'recipes' | 'folds'>): AutoRecord['chosen'] {
  const used = spread !== undefined && (plan.recipes ?? plan.members) >= 2 ? spread : undefined;
  const scores = probes.filter((p) => !p.error).map((p) => `${p.start} @ ${p.learningRate.toExponential(1)}: ${p.valLoss.toFixed(4)}`).join(', ');
  return {
    start: best.start,
    learningRate: best.learningRate,
    reason: `lowest holdout loss of ${probes.length} probes (${scores})${used ? `; every other ${plan.folds ? 'recipe' : 'member'} at ${used.toExponential(1)}, a third of the range test's edge, for a vote whose members err differently` : ''}`,
    ...(used ? { spreadLearningRate: used } : {}),
  };
}

/* ---------- the record and the ensemble ---------- */

export interface AutoRecord {
  preset: string;
  /** "balanced" when the labels are heavily imbalanced: probes and members draw every digit equally often */
  sampling?: 'balanced';
  budgetMinutes: number;
  background: BackgroundProfile;
  augmentation: AugmentationChoice;
  probePlan: ProbePlan;
  lrFinds: LrFindRecord[];
  probes: ProbeRecord[];
  chosen: { start: Start; learningRate: number; reason: string; spreadLearningRate?: number };
  throughput: { imagesPerSecondPerWorker: number; concurrency: number; measuredOn: string };
  plan: MemberPlan;
  /** holdout or k-fold members, and why (absent in records older than the default rule) */
  validation?: ValidationChoice;
  /**
   * how members are combined: a soft vote, weighted when `evaluate`'s ensemble selection
   * (Caruana, on held-out predictions) beats the equal vote cross-fitted
   */
  combine: 'soft-vote (weighted by ensemble selection when it helps on held-out rows)';
  choosingSeconds: number;
  /**
   * seconds from the run's start to its training's (importing, choosing the recipe, drawing
   * synthetic rows): with run.json's training seconds, what a resumed run has spent of its
   * budget; absent in older records (choosingSeconds stands in)
   */
  trainingStartSeconds?: number;
  /**
   * the competition's noise model and the synthetic rows it made (MNIST train images with
   * that noise), added to every member's training rows; absent in records older than it
   */
  noise?: { fit: NoiseFit; syntheticRows: number; seed: number; /** the rows made for the noise when the budget had room for fewer (`syntheticRows`) */ cutFrom?: number; /** why a fitted model gives no rows unless asked (`ROWS_NOT_BY_DEFAULT`) */ notByDefault?: string };
  /** pseudo-labelling, when asked for */
  pseudoLabel?: { threshold: number; rows: number; testRows: number; perClass: number[]; round1: string };
  /**
   * what the user's flags (`--epochs`, `--learning-rate`, `--batch-size`, `--seed`) set for
   * every member over the chosen recipe: `plan` and `chosen` stay auto's own; absent: none
   */
  overrides?: MemberOverrides;
}

/**
 * `--seed 7 (member i seeded 7 + i), --epochs 1 (auto planned 6), --batch-size 32 (auto's is 64)`:
 * each flag set over auto's plan, with what auto had chosen; empty when none (`--seed` went
 * unnamed until session 42, though the README said each flag was).
 */
export function describeOverrides(overrides: MemberOverrides, record: Pick<AutoRecord, 'plan' | 'chosen'>): string {
  const parts: string[] = [];
  if (overrides.seed !== undefined) parts.push(`--seed ${overrides.seed} (member i seeded ${overrides.seed} + i)`);
  if (overrides.epochs !== undefined) parts.push(`--epochs ${overrides.epochs} (auto planned ${record.plan.epochs})`);
  if (overrides.learningRate !== undefined) parts.push(`--learning-rate ${overrides.learningRate} (auto chose ${record.chosen.learningRate.toExponential(1)}${record.chosen.spreadLearningRate ? ` and ${record.chosen.spreadLearningRate.toExponential(1)}` : ''})`);
  if (overrides.batchSize !== undefined) parts.push(`--batch-size ${overrides.batchSize} (auto's is ${AUTO_BATCH})`);
  return parts.join(', ');
}

export interface AutoEnsembleInput {
  start: Start;
  learningRate: number;
  /** every other member's base rate (`spreadRate`); absent: all members at `learningRate` */
  spreadLearningRate?: number;
  augmentation: AugmentationConfig;
  members: number;
  epochs: number;
  preset?: string;
  /** starting checkpoints per member instead of the start's (pseudo-label round 2: round 1's members) */
  inits?: string[];
  /** the start's checkpoints members cycle through (default: `startCheckpoints`, every one shipped) */
  checkpoints?: string[];
  name?: string;
  /**
   * k-fold cross-validation: `members` counts fold members, and the ensemble has
   * `members / folds` recipes, each trained once per fold (checkpoints and rates go round by recipe)
   */
  folds?: number;
  /** "balanced" on heavily imbalanced labels (`heavyImbalance`): every digit equally often in each epoch */
  sampling?: 'balanced';
}

/**
 * Whether member `i` trains at the spread rate: every other member, so that with an odd number
 * of checkpoints in turn (or none) each checkpoint comes round at both rates. With an even
 * number the plain alternation would tie each checkpoint to one rate (4 checkpoints: the first
 * and third always near, the second and fourth always far), so the alternation flips on each
 * pass through the checkpoints: the first pass is the plain one, the next swaps the rates.
 */
export function spreadTurn(i: number, checkpoints: number): boolean {
  const pass = checkpoints > 0 && checkpoints % 2 === 0 ? Math.floor(i / checkpoints) : 0;
  return (i + pass) % 2 === 1;
}

/**
 * The members the decisions make: the chosen start; the chosen rate, alternating with the
 * spread rate when there is one (`spreadTurn`), times RATE_FACTORS in turn; Adam with the rate decaying to a
 * tenth over the epochs, the chosen augmentation, different seeds; the shared 10% holdout the
 * probes were scored on, or under k-fold (`folds`) recipes validated on every fold in turn.
 */
/** auto's schedule for a member of `epochs` epochs: its rate decays to a tenth over them (constant for one epoch). */
export function autoSchedule(epochs: number): MemberConfig['schedule'] {
  const decay = epochs > 1 ? Number((0.1 ** (1 / (epochs - 1))).toFixed(3)) : 1;
  return decay < 1 ? { kind: 'exponential', decay } : { kind: 'constant' };
}

/**
 * An auto member re-planned to fewer epochs as it starts (the machine trains slower than the
 * plan counted: services/train.ts `replan`): its rate still decays to a tenth, over the epochs it
 * has, where the deadline would have cut it with the rate not yet decayed.
 */
export function replanAutoMember(member: MemberConfig, epochs: number): MemberConfig {
  return { ...member, epochs, schedule: autoSchedule(epochs) };
}

/**
 * The rates of auto's members in words: the chosen rate (and the spread rate, in turn), each
 * times RATE_FACTORS in turn, as far as there are members (recipes, under k-fold) to take them.
 */
export function describeAutoRates(learningRate: number, spreadLearningRate: number | undefined, members: number): string {
  const e1 = (x: number) => x.toExponential(1);
  const factors = RATE_FACTORS.slice(0, Math.max(1, Math.min(members, RATE_FACTORS.length)));
  const base = spreadLearningRate && members > 1 ? `${e1(learningRate)} and ${e1(spreadLearningRate)} in turn` : e1(learningRate);
  return factors.length > 1 ? `${base}, times ${factors.join(', ').replace(/, ([^,]*)$/, ' and $1')} in turn` : base;
}

export function autoEnsemble(input: AutoEnsembleInput): EnsembleSpec {
  const preset = input.preset ?? AUTO_PRESET;
  const folds = input.folds && input.folds >= 2 ? input.folds : undefined;
  if (folds && input.inits) throw new RangeError('auto: starting checkpoints per member (a second round) do not combine with k-fold members');
  const entries = folds ? Math.max(1, Math.round(input.members / folds)) : input.members;
  const schedule = autoSchedule(input.epochs);
  // Members cycle through the start's independently pretrained checkpoints: fine-tuned a few
  // epochs at small rates, members of one checkpoint stay close to it and to each other.
  const checkpoints = input.checkpoints ?? startCheckpoints(input.start, preset);
  const members = Array.from({ length: entries }, (_, i) => {
    const init = input.inits?.[i] ?? checkpoints[i % Math.max(1, checkpoints.length)];
    const base = input.spreadLearningRate && spreadTurn(i, checkpoints.length) ? input.spreadLearningRate : input.learningRate;
    return memberFromInput(
      {
        name: `${preset}-${i + 1}`,
        preset,
        optimizer: 'adam',
        learningRate: Number((base * RATE_FACTORS[i % RATE_FACTORS.length]!).toPrecision(3)),
        schedule,
        augmentation: input.augmentation,
        epochs: input.epochs,
        batchSize: AUTO_BATCH,
        seed: 300 + i,
        ...(init ? { init } : {}),
        ...(input.sampling ? { sampling: input.sampling } : {}),
      },
      i,
    );
  });
  const who = folds ? `${entries} ${preset} recipe${entries === 1 ? '' : 's'} × ${folds} folds` : `${input.members} ${preset} member${input.members === 1 ? '' : 's'}`;
  // What the members were given, as they were given it (it said "4 checkpoints in turn" of a
  // single recipe from one checkpoint, and "decaying to a tenth" of one-epoch members at a constant rate).
  const used = Math.min(entries, checkpoints.length);
  const inTurn = !input.inits && used > 1 ? ` (${used < checkpoints.length ? `${used} of its ${checkpoints.length}` : used} checkpoints in turn)` : '';
  const spec: EnsembleSpec = {
    name: input.name ?? 'auto',
    description: `${who} from the ${input.start} start${inTurn}, ${input.epochs} epoch${input.epochs === 1 ? '' : 's'} at ${describeAutoRates(input.learningRate, input.spreadLearningRate, entries)}${schedule.kind === 'exponential' ? ' (decaying to a tenth)' : ''}, chosen on holdout rows`,
    validation: { kind: 'shared', fraction: 0.1, seed: 42 },
    members,
  };
  return folds ? withFolds(spec, folds) : spec;
}
