/**
 * The shape `evaluation.json` must have for its readers (dashboard, report, submit, runs,
 * serve): the types of the fields they read, checked when the file is read so that a
 * hand-edited or otherwise damaged file is an error naming the field's line and column, not a
 * crash deep in a chart or a `NaN%` in a ledger line. Objects are loose (unknown keys pass):
 * `digits evaluate` writes the file, and fields added by later versions must not fail here.
 * (Until session 43 only `members`, `heldOutRows` and the two ensemble votes were checked to exist.)
 */
import { z } from 'zod';

const finite = z.number().refine(Number.isFinite, 'not a finite number');
const count = z.number().int().nonnegative();
const share = finite.refine((v) => v >= 0 && v <= 1, 'not between 0 and 1');

const classMetrics = z.looseObject({ label: count, precision: finite, recall: finite, f1: finite, support: count });
const confusedPair = z.looseObject({ trueLabel: count, predicted: count, count, examples: z.array(count) });
export const metricsShape = z.looseObject({
  rows: count,
  accuracy: share,
  logLoss: finite.refine((v) => v >= 0, 'negative'),
  perClass: z.array(classMetrics),
  confusion: z.array(z.array(count)),
  mostConfused: z.array(confusedPair),
});
// (`folds`: the fold of each value, since session 44; older files have the values alone)
const meanSd = z
  .looseObject({ mean: finite, sd: finite, values: z.array(finite), folds: z.array(z.number().int().positive()).optional() })
  .refine((m) => m.folds === undefined || m.folds.length === m.values.length, { message: 'not one fold per value', path: ['folds'] });
const foldScores = z.looseObject({ accuracy: meanSd, logLoss: meanSd });

const member = z.looseObject({
  name: z.string(),
  preset: z.string(),
  checkpoint: z.string(),
  rows: count,
  metrics: metricsShape,
  tta: metricsShape.optional(),
  history: z.array(z.looseObject({})),
  validationRows: z.array(count).optional(),
  identity: z.string().optional(),
});

export const evaluationShape = z.looseObject({
  run: z.string(),
  createdAt: z.string(),
  dataset: z.looseObject({ dir: z.string(), fingerprint: z.string() }),
  heldOutRows: z.array(count),
  members: z.array(member),
  ensemble: z.looseObject({
    soft: metricsShape,
    hard: metricsShape,
    softTta: metricsShape.optional(),
    hardTta: metricsShape.optional(),
    weights: z.array(finite).optional(),
    ttaTransforms: z.array(z.string()).optional(),
    ttaFill: z.string().optional(),
    weighted: metricsShape.optional(),
    bestUnit: z.looseObject({ name: z.string(), accuracy: share, logLoss: finite }).optional(),
    outOfBag: z.looseObject({ members: count, commonRows: count, meanVoters: finite }).optional(),
    warnings: z.array(z.string()).optional(),
  }),
  failedMembers: z.array(z.looseObject({ name: z.string(), error: z.string() })).optional(),
  cv: z
    .looseObject({
      folds: count,
      split: z.string(),
      recipes: z.array(z.looseObject({ name: z.string(), preset: z.string(), members: z.array(z.string()), rows: count, accuracy: meanSd, logLoss: meanSd, tta: foldScores.optional(), oof: z.looseObject({ variant: z.enum(['tta', 'plain']), metrics: metricsShape }).optional() })),
      ensemble: z.looseObject({ accuracy: meanSd, logLoss: meanSd, tta: foldScores.optional() }),
      oofFile: z.string(),
    })
    .optional(),
  test: z
    .looseObject({
      answers: z.string(),
      rows: count,
      soft: metricsShape,
      softTta: metricsShape.optional(),
      equalWeights: metricsShape.optional(),
      bestMember: z.looseObject({ name: z.string(), metrics: metricsShape }),
    })
    .optional(),
});
