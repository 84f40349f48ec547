/** `auto`'s decisions as plain lines: each probe as it finishes, and a summary of why the recipe is what it is. */
import { describeAutoRates, describeOverrides, type AutoRecord } from '../ensemble/auto.js';
import type { AutoEvent } from '../services/auto.js';

const e1 = (v: number) => v.toExponential(1);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function formatAutoEvent(e: AutoEvent): string {
  switch (e.type) {
    case 'auto-background':
      return `${e.reason} → augmentation ${e.augmentation}`;
    case 'auto-noise':
      // (--synthetic-rows with no model to draw them: said, it was ignored without a word)
      return `${e.reason}${e.syntheticRows > 0 ? ` → ${e.syntheticRows} synthetic training rows` : e.asked ? ` → none of the ${e.asked} synthetic rows --synthetic-rows asked for: there is no noise model to draw them with` : ''}`;
    case 'auto-lr-find':
      return `LR range test from the ${e.start} start: smoothed loss lowest (${e.minimumLoss.toFixed(3)}) at ${e1(e.lrAtMinimum)}, still near it up to ${e1(e.lrAtEdge)} → probing ${e.probeRates.map(e1).join(' and ')}`;
    case 'auto-probe':
      return `probe ${e.start} @ ${e1(e.learningRate)}: holdout loss ${e.valLoss.toFixed(4)}, accuracy ${(e.valAcc * 100).toFixed(2)}% (${e.seconds}s)`;
    case 'auto-chosen':
      return `chosen: ${e.start} start at ${e1(e.learningRate)}${e.spreadLearningRate ? ` and ${e1(e.spreadLearningRate)}` : ''} (${e.reason})`;
    case 'auto-validation':
      return `validation: ${e.reason}`;
    case 'auto-plan':
      return `plan: ${e.reason}`;
  }
}

export function formatAutoSummary(r: AutoRecord): string {
  const lines = [
    `recipe      auto: ${r.preset} from the ${r.chosen.start} start${r.sampling ? ', every digit equally often in each epoch (the labels are heavily imbalanced)' : ''}, lr ${describeAutoRates(r.chosen.learningRate, r.chosen.spreadLearningRate, r.plan.recipes ?? r.plan.members)}, ${r.plan.folds ? `${plural(r.plan.recipes ?? r.plan.members / r.plan.folds, 'recipe')} × ${r.plan.folds} folds = ` : ''}${plural(r.plan.members, 'member')} × ${plural(r.overrides?.epochs ?? r.plan.epochs, 'epoch')}, augmentation ${JSON.stringify(r.augmentation.config)}, ${r.combine}`,
    `            why: ${r.chosen.reason}; ${r.augmentation.reason}; chosen in ${r.choosingSeconds}s of a ${r.budgetMinutes}-minute budget`,
  ];
  if (r.validation?.by === 'default') lines.push(`            validation: ${r.validation.reason}`);
  const knobs = r.overrides ? describeOverrides(r.overrides, r) : '';
  if (knobs) lines.push(`            flags: ${knobs}, over auto's plan for every member`);
  if (r.noise) lines.push(`            noise: ${r.noise.fit.reason}${r.noise.syntheticRows > 0 ? `; ${r.noise.syntheticRows} MNIST train images with it joined the training rows` : r.noise.notByDefault ? `; ${r.noise.notByDefault}` : ''}${r.noise.cutFrom ? ` (${r.noise.cutFrom} were made for the noise; the budget had room for ${r.noise.syntheticRows > 0 ? r.noise.syntheticRows : 'none'})` : ''}`);
  if (r.pseudoLabel) lines.push(`            pseudo-labels: ${r.pseudoLabel.rows} of ${r.pseudoLabel.testRows} test rows at confidence ≥ ${r.pseudoLabel.threshold} joined round 2's training rows`);
  return `${lines.join('\n')}\n`;
}

/**
 * After the run's time: a run that took more than a tenth over its budget says so there (a
 * budget too short for one member and the evaluation, or a machine that slowed down after the
 * plan was made), not only in the plan's line far above. Empty otherwise, and for runs without a budget.
 */
export function overBudgetNote(seconds: number, budgetMinutes: number | undefined): string {
  if (budgetMinutes === undefined || seconds <= budgetMinutes * 60 * 1.1) return '';
  return `, past the ${budgetMinutes}-minute budget (${Math.round(budgetMinutes * 60)}s): the plan line above says what it needed (a budget too short for one member and the evaluation is overrun; so is one when the machine slows down after the plan)`;
}
