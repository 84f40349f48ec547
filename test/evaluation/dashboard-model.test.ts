import { describe, expect, test } from 'vitest';
import {
  type DigitSource,
  buildDashboardModel,
  classTableLines,
  confusionLines,
  crossValidationLines,
  dashboardText,
  digitSourceFromDataset,
  findView,
  heatCells,
  heatColor,
  misreadTiles,
  sparkline,
  tabWindow,
} from '../../src/evaluation/dashboard-model.js';
import { computeMetrics } from '../../src/evaluation/metrics.js';
import type { EvaluationReport } from '../../src/evaluation/evaluation-report.js';
import type { EpochRecord } from '../../src/training/train-member.js';
import { UserError } from '../../src/errors.js';

/** Probabilities that read row i as predicted[i] with confidence 0.8. */
function probsReading(predicted: number[]): Float32Array {
  const out = new Float32Array(predicted.length * 10).fill(0.2 / 9);
  predicted.forEach((p, i) => (out[i * 10 + p] = 0.8));
  return out;
}

const history = (valAcc: number[]): EpochRecord[] =>
  valAcc.map((v, epoch) => ({ epoch, loss: 1 - v + 0.05, acc: v - 0.01, valLoss: 1 - v, valAcc: v, lr: 1e-3, imagesPerSecond: 500, seconds: 10 }));

// Twenty training rows, labels 0..9 twice; rows 10..19 held out by every member.
const trainLabels = Array.from({ length: 20 }, (_, i) => i % 10);
const heldOutRows = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
const heldLabels = heldOutRows.map((r) => trainLabels[r]!);

function fakeReport(): EvaluationReport {
  // The ensemble reads 4 (row 14) as 9 and 7 (row 17) as 1.
  const ensembleReads = heldLabels.map((l) => (l === 4 ? 9 : l === 7 ? 1 : l));
  // alpha is evaluated on its own rows, in its own order (reversed), and says so.
  const alphaRows = [...heldOutRows].reverse();
  const alphaReads = alphaRows.map((r) => (trainLabels[r] === 3 ? 5 : trainLabels[r]!));
  const betaReads = heldLabels.map((l) => (l === 8 ? 3 : l));
  return {
    format: 'digits-evaluation',
    version: 1,
    run: 'quick-20261121-101500',
    createdAt: '2026-11-21T10:30:00.000Z',
    dataset: { dir: '/data/uniform/.digits', fingerprint: 'sha256:abc' },
    heldOutRows,
    members: [
      { name: 'alpha', preset: 'seed002', checkpoint: 'alpha/best', rows: 10, metrics: computeMetrics(probsReading(alphaReads), alphaRows.map((r) => trainLabels[r]!)), history: history([0.8, 0.9, 0.86]), validationRows: alphaRows },
      { name: 'beta', preset: 'deotte', checkpoint: 'beta/best', rows: 10, metrics: computeMetrics(probsReading(betaReads), heldLabels), tta: computeMetrics(probsReading(heldLabels), heldLabels), history: history([0.5, 0.7]) },
    ],
    ensemble: {
      soft: computeMetrics(probsReading(ensembleReads), heldLabels),
      hard: computeMetrics(probsReading(heldLabels.map((l) => (l === 4 ? 9 : l))), heldLabels),
      softTta: computeMetrics(probsReading(heldLabels), heldLabels),
      ttaTransforms: ['shift(0,0)', 'shift(1,0)'],
    },
  };
}

describe('dashboard model', () => {
  test('views: the ensemble (soft, hard, TTA), then each member, with their numbers', () => {
    const model = buildDashboardModel(fakeReport());
    expect(model.views.map((v) => [v.key, v.title, v.kind])).toEqual([
      ['ensemble', 'ensemble (soft vote)', 'ensemble'],
      ['ensemble-hard', 'ensemble (hard vote)', 'ensemble'],
      ['ensemble-tta', 'ensemble (soft vote + TTA ×2)', 'ensemble'],
      ['alpha', 'alpha (seed002)', 'member'],
      ['beta', 'beta (deotte)', 'member'],
    ]);
    const ensemble = model.views[0]!;
    expect(ensemble).toMatchObject({ rows: 10, accuracy: 0.8, set: 'train' });
    expect(ensemble.classes[4]).toMatchObject({ precision: 0, recall: 0, support: 1 });
    expect(ensemble.classes[9]).toMatchObject({ precision: 0.5, recall: 1, support: 1 });
    expect(model).toMatchObject({ run: 'quick-20261121-101500', heldOutRows: 10, ttaTransforms: ['shift(0,0)', 'shift(1,0)'], weights: null, testBestMember: null });
  });

  test('misread examples map to dataset rows: heldOutRows for the ensemble, validationRows for a member, none without them', () => {
    const model = buildDashboardModel(fakeReport());
    const [ensemble, , , alpha, beta] = model.views;
    // ensemble: position 4 of heldOutRows is row 14 (a 4 read as 9), position 7 is row 17
    expect(ensemble!.pairs).toEqual([
      { trueLabel: 4, predicted: 9, count: 1, samples: [{ position: 4, row: 14 }] },
      { trueLabel: 7, predicted: 1, count: 1, samples: [{ position: 7, row: 17 }] },
    ]);
    // alpha: its rows are reversed, so the 3 at position 6 is dataset row 13
    expect(alpha!.pairs).toEqual([{ trueLabel: 3, predicted: 5, count: 1, samples: [{ position: 6, row: 13 }] }]);
    // beta has no validationRows: the position is known, the dataset row is not
    expect(beta!.pairs).toEqual([{ trueLabel: 8, predicted: 3, count: 1, samples: [{ position: 8, row: null }] }]);
  });

  test('training curves: values per epoch, best epoch by validation loss, TTA accuracy when evaluated', () => {
    const [alpha, beta] = buildDashboardModel(fakeReport()).members;
    expect(alpha).toMatchObject({ name: 'alpha', epochs: 3, bestEpoch: 1, valAcc: [0.8, 0.9, 0.86], ttaAccuracy: null, accuracy: 0.9 });
    expect(alpha!.valLoss[1]).toBeCloseTo(0.1, 10);
    expect(beta).toMatchObject({ epochs: 2, bestEpoch: 1, ttaAccuracy: 1 });
  });

  test('test answers become views over test rows', () => {
    const report = fakeReport();
    const truth = [3, 1, 4, 1];
    report.test = { answers: '/c/uniform-answers.csv', rows: 4, soft: computeMetrics(probsReading([3, 7, 4, 1]), truth), bestMember: { name: 'beta', metrics: computeMetrics(probsReading(truth), truth) } };
    const model = buildDashboardModel(report);
    const test = model.views[findView(model, 'test')]!;
    expect(test).toMatchObject({ set: 'test', kind: 'test', accuracy: 0.75 });
    expect(test.pairs[0]!.samples).toEqual([{ position: 1, row: 1 }]);
    expect(model.testBestMember).toEqual({ name: 'beta', accuracy: 1, label: 'the member best on its held-out rows, without TTA' });
  });

  test('a weighted submission: held-out and test views name the equal and the weighted vote alike, both on both sets', () => {
    // Given a report whose submission is the weighted vote with TTA, scored on the test answers
    const report = fakeReport();
    const truth = [3, 1, 4, 1];
    const heldWeighted = computeMetrics(probsReading(heldLabels.map((l) => (l === 7 ? 1 : l))), heldLabels);
    report.ensemble.weights = [0.75, 0.25];
    report.ensemble.weighted = heldWeighted;
    report.ensemble.ttaDecision = { used: true, reason: 'TTA lowers the log-loss' };
    report.ensemble.selection = {
      method: 'caruana', units: 'members', variant: 'tta', rows: 10, names: ['alpha', 'beta'], weights: [0.75, 0.25], picks: ['alpha', 'alpha', 'beta', 'alpha'],
      equal: { accuracy: 0.8, logLoss: 0.5 }, inSample: { accuracy: 0.9, logLoss: 0.4 }, crossFitted: { accuracy: 0.9, logLoss: 0.45 }, used: true, reason: 'the weights beat the equal vote',
    };
    report.test = {
      answers: '/c/uniform-answers.csv',
      rows: 4,
      soft: computeMetrics(probsReading([3, 7, 4, 1]), truth),
      softTta: computeMetrics(probsReading([3, 1, 4, 1]), truth),
      equalWeights: computeMetrics(probsReading([3, 7, 4, 7]), truth),
      bestMember: { name: 'beta', metrics: computeMetrics(probsReading(truth), truth) },
    };
    // When the model is built
    const model = buildDashboardModel(report);
    // Then the equal vote's views say so, the weighted vote has a held-out view (cross-fitted) as on test, and the test's equal vote is shown
    expect(model.views.filter((v) => v.kind !== 'member').map((v) => [v.key, v.title, v.accuracy])).toEqual([
      ['ensemble', 'ensemble (equal soft vote)', 0.8],
      ['ensemble-hard', 'ensemble (hard vote)', 0.9],
      ['ensemble-tta', 'ensemble (equal soft vote + TTA ×2)', 1],
      ['ensemble-weighted', 'ensemble (weighted soft vote + TTA ×2, cross-fitted)', 0.9],
      ['test', 'test answers (weighted soft vote)', 0.75],
      ['test-tta', 'test answers (weighted soft vote + TTA ×2)', 1],
      ['test-equal-tta', 'test answers (equal soft vote + TTA ×2)', 0.5],
    ]);
    // the weighted held-out view maps its misread digits to dataset rows, as the equal one does
    expect(model.views[findView(model, 'ensemble-weighted')]!.pairs).toEqual([{ trueLabel: 7, predicted: 1, count: 1, samples: [{ position: 7, row: 17 }] }]);
    // and the header and the summary say which vote is submitted, and what each view is
    expect(model.submittedVote).toBe('weighted soft vote + TTA ×2');
    const text = dashboardText(model, 0);
    expect(text).toContain('on 10 held-out rows, weights 0.75/0.25; submitted: weighted soft vote + TTA ×2');
    expect(text).toMatch(/test-equal-tta\s+50\.00%\s+\d\.\d{4}\s+4  test answers \(equal soft vote \+ TTA ×2\)\n/);
  });

  test('findView: a key or member name; anything else is a UserError listing the choices', () => {
    const model = buildDashboardModel(fakeReport());
    // without a name, the view of the vote as submitted: here with TTA (evaluated with it, before the choice was recorded)
    expect(model.submittedView).toBe('ensemble-tta');
    expect(findView(model, undefined)).toBe(2);
    // and the plain soft vote when TTA was not chosen
    const plain = fakeReport();
    plain.ensemble.ttaDecision = { used: false, reason: 'TTA did not lower the log-loss' };
    expect(findView(buildDashboardModel(plain), undefined)).toBe(0);
    expect(findView(model, 'beta')).toBe(4);
    expect(findView(model, 'ensemble-hard')).toBe(1);
    expect(() => findView(model, 'gamma')).toThrow(UserError);
    // the test view without test answers says what makes it
    expect(() => findView(model, 'test')).toThrow(expect.objectContaining({ hint: expect.stringContaining('The test view needs the test answers: digits evaluate --run <run> --answers <answers.csv>.') }));
    try {
      findView(model, 'gamma');
    } catch (error) {
      expect((error as UserError).where).toEqual({ flag: 'member' });
      expect((error as UserError).hint).toBe('Pick one of: ensemble, ensemble-hard, ensemble-tta, alpha, beta.');
    }
  });

  const heatCases = [
    { name: 'diagonal and mistakes scaled separately', confusion: [[8, 2], [1, 4]], levels: [[1, 1], [0.5, 0.5]] },
    { name: 'no mistakes: off-diagonal level 0', confusion: [[3, 0], [0, 0]], levels: [[1, 0], [0, 0]] },
  ];
  test.each(heatCases)('heat cells: $name', ({ confusion, levels }) => {
    expect(heatCells(confusion).map((row) => row.map((c) => c.level))).toEqual(levels);
  });

  test('heat colours: greens on the diagonal, reds off it, brighter with the count, none when empty', () => {
    expect(heatColor({ count: 0, diagonal: false, level: 0 })).toBeNull();
    expect(heatColor({ count: 9, diagonal: true, level: 1 })).toBe('#00af00');
    expect(heatColor({ count: 1, diagonal: true, level: 0.1 })).toBe('#005f00');
    // mistakes on a square-root scale: 1 of a maximum 25 is the darkest step, 4 of 25 the second
    expect(heatColor({ count: 25, diagonal: false, level: 1 })).toBe('#ff0000');
    expect(heatColor({ count: 1, diagonal: false, level: 1 / 25 })).toBe('#5f0000');
    expect(heatColor({ count: 4, diagonal: false, level: 4 / 25 })).toBe('#870000');
  });

  test('sparklines scale between min and max; a flat series is a flat line half-way up, not full bars', () => {
    expect(sparkline([0.5, 0.75, 1])).toBe('▁▅█');
    expect(sparkline([2, 2])).toBe('▄▄');
    expect(sparkline([])).toBe('');
  });

  test('misread tiles: the first example of each pair, then the next, captioned true→predicted #row', () => {
    const report = fakeReport();
    report.ensemble.soft.mostConfused = [
      { trueLabel: 4, predicted: 9, count: 3, examples: [4, 1] },
      { trueLabel: 7, predicted: 1, count: 1, examples: [7] },
    ];
    const view = buildDashboardModel(report).views[0]!;
    const asked: number[] = [];
    const source: DigitSource = { size: 2, image: (_set, row) => (asked.push(row), Float32Array.of(row / 20, 0, 0, 1)) };
    const tiles = misreadTiles(view, source, 10);
    expect(tiles.map((t) => t.caption)).toEqual(['4→9 #14', '7→1 #17', '4→9 #11']);
    expect(tiles[0]!.image[0]).toBeCloseTo(0.7);
    expect(misreadTiles(view, source, 2)).toHaveLength(2);
    expect(misreadTiles(view, null, 10)).toEqual([]);
  });

  test('digitSourceFromDataset scales pixels to [0, 1] and refuses rows outside the set', () => {
    const source = digitSourceFromDataset({ width: 2, height: 2, scale: 255, trainImages: Uint8Array.of(0, 255, 51, 102, 255, 255, 255, 255), testImages: new Uint8Array(0) });
    const pixels = Array.from(source.image('train', 0)!);
    [0, 1, 0.2, 0.4].forEach((value, i) => expect(pixels[i]).toBeCloseTo(value, 6));
    expect(source.image('train', 2)).toBeNull();
    expect(source.image('test', 0)).toBeNull();
  });

  test('plain text: summary of every view, the chosen view’s tables, pairs and curves', () => {
    const model = buildDashboardModel(fakeReport());
    const text = dashboardText(model, findView(model, 'alpha'), 'DIGITS HERE');
    expect(text).toContain('Run quick-20261121-101500 evaluated 2026-11-21T10:30:00.000Z on 10 held-out rows');
    expect(text).toMatch(/ensemble\s+80\.00%\s+\d\.\d{4}\s+10/);
    expect(text).toMatch(/ensemble-tta\s+100\.00%/);
    expect(text).toContain('alpha (seed002): accuracy 90.00%');
    expect(text).toContain('digit  precision  recall     F1  support');
    expect(text).toMatch(/\n\s+3\s+0\.000\s+0\.000\s+0\.000\s+1\n/); // alpha never gets a 3 right
    expect(text).toMatch(/\n\s+5\s+0\.500\s+1\.000\s+0\.667\s+1\n/);
    expect(text).toContain('3 read as 5     1×  rows #13');
    expect(text).toContain('DIGITS HERE');
    expect(text).toMatch(/alpha\s+seed002, 3 epochs, best 2; evaluated 90\.00%/);
    expect(text).toMatch(/val_acc\s+▁█▅\s+80\.00% → 86\.00%/);
    expect(text).toMatch(/beta\s+deotte, 2 epochs, best 2; evaluated 90\.00%\s+with TTA 100\.00%/);
  });

  test('table lines: ten digits and a macro average; confusion with the diagonal marked', () => {
    const view = buildDashboardModel(fakeReport()).views[0]!;
    const table = classTableLines(view);
    expect(table).toHaveLength(12);
    expect(table[11]).toMatch(/macro\s+0\.700\s+0\.800\s+0\.733\s+10/);
    const matrix = confusionLines(view);
    expect(matrix[0]).toMatch(/^true\\pred\s+0\s+1\s+2/);
    expect(matrix[5]).toMatch(/^\s+4\s+·\s+·\s+·\s+·\s+\[0\]\s+·\s+·\s+·\s+·\s+1$/);
  });
});

describe('cross-validation and ensemble selection in the dashboard', () => {
  test('a k-fold report shows CV mean ± sd per recipe and for the ensemble, the selection beside the equal vote, and its notes', () => {
    // Given a k-fold report with two recipes over 3 folds and a selection that was not used
    const report = fakeReport();
    const ms = (values: number[]) => ({ mean: values.reduce((a, b) => a + b, 0) / values.length, sd: 0.01, values });
    report.cv = {
      folds: 3,
      split: 'kfold-3-seed42',
      recipes: [
        { name: 'a', preset: 'mlp', members: ['a-f1', 'a-f2', 'a-f3'], rows: 20, accuracy: ms([0.9, 0.92, 0.94]), logLoss: ms([0.3, 0.25, 0.2]) },
        { name: 'b', preset: 'mlp', members: ['b-f1', 'b-f2', 'b-f3'], rows: 20, accuracy: ms([0.8, 0.82, 0.84]), logLoss: ms([0.5, 0.45, 0.4]), tta: { accuracy: ms([0.81, 0.83, 0.85]), logLoss: ms([0.49, 0.44, 0.39]) } },
      ],
      ensemble: { accuracy: ms([0.91, 0.93, 0.95]), logLoss: ms([0.28, 0.24, 0.2]) },
      oofFile: 'oof-predictions.json',
    };
    report.ensemble.selection = {
      method: 'caruana', units: 'recipes', variant: 'tta', rows: 20, names: ['a', 'b'], weights: [0.75, 0.25], picks: ['a', 'a', 'b', 'a'],
      equal: { accuracy: 0.93, logLoss: 0.24 }, inSample: { accuracy: 0.94, logLoss: 0.22 }, crossFitted: { accuracy: 0.92, logLoss: 0.25 },
      used: false, reason: 'equal weights are kept',
    };
    report.ensemble.warnings = ['the soft vote (93.00%) scores below its best recipe, a (94.00%), on the 20 held-out rows'];
    report.ensemble.ttaDecision = { used: false, reason: 'TTA raises the log-loss' };
    // When the model is built
    const model = buildDashboardModel(report);
    // Then the figures are the submission's variant (no TTA here, though recipe b measured it), the ensemble row last
    expect(model.crossValidation!.rows.map((r) => r.name)).toEqual(['a', 'b', 'ensemble']);
    [0.92, 0.82, 0.93].forEach((mean, i) => expect(model.crossValidation!.rows[i]!.accuracy.mean).toBeCloseTo(mean, 12));
    expect(model.crossValidation!.tta).toBe(false);
    // and with a submission that averages the shifts, the TTA figures, said so
    const withTta = structuredClone(report);
    withTta.ensemble.ttaDecision = { used: true, reason: 'TTA lowers the log-loss' };
    withTta.cv!.ensemble.tta = { accuracy: ms([0.92, 0.94, 0.96]), logLoss: ms([0.27, 0.23, 0.19]) };
    const tta = buildDashboardModel(withTta);
    [0.92, 0.83, 0.94].forEach((mean, i) => expect(tta.crossValidation!.rows[i]!.accuracy.mean).toBeCloseTo(mean, 12));
    expect(dashboardText(tta, 0)).toContain('mean ± sample sd (n − 1) over the folds, with 8-way TTA, as submitted');
    // the fold scores are the equal vote's: a weighted submission is said on its row
    const weighted = structuredClone(report);
    weighted.ensemble.weights = [0.75, 0.25];
    weighted.ensemble.selection!.used = true;
    expect(buildDashboardModel(weighted).crossValidation!.rows.at(-1)!.name).toBe('ensemble (equal vote; submitted weighted)');
    // unequal member weights without selection in use (a recipe's share split over fewer fold members, one having failed) are the equal vote of the recipes
    weighted.ensemble.selection!.used = false;
    expect(buildDashboardModel(weighted).crossValidation!.rows.at(-1)!.name).toBe('ensemble');
    expect(buildDashboardModel(weighted).submittedVote).toMatch(/^soft vote/);
    expect(model.selection!.rows.map((r) => r.label)).toEqual(['equal weights', 'weighted, cross-fitted (honest)', 'weighted, in-sample (optimistic)']);
    expect(model.outOfFold).toBe(true);
    const text = dashboardText(model, 0);
    expect(text).toContain('3-fold cross-validation (split kfold-3-seed42), mean ± sample sd (n − 1) over the folds, without TTA, as submitted');
    expect(text).toMatch(/ensemble\s+acc 93\.00 ± 1\.00%\s+log-loss 0\.2400 ± 0\.0100/);
    expect(text).toContain('Ensemble selection over recipes (not used): a 0.750, b 0.250');
    expect(text).toContain('NOTE: the soft vote (93.00%) scores below its best recipe');
    expect(text).toContain('on 10 out-of-fold rows');
    // and a plain holdout report shows none of it
    expect(dashboardText(buildDashboardModel(fakeReport()), 0)).not.toMatch(/cross-validation|Ensemble selection|NOTE/);
  });
});

describe('tabs on one line', () => {
  const labels = Array.from({ length: 12 }, (_, i) => `${i + 1} member-${i + 1}`);
  test.each([
    { index: 0, columns: 80 },
    { index: 11, columns: 80 },
    { index: 6, columns: 40 },
    { index: 3, columns: 400 },
  ])('the window around tab $index fits $columns columns and holds the current tab', ({ index, columns }) => {
    const { start, end } = tabWindow(labels, index, columns);
    expect(start).toBeLessThanOrEqual(index);
    expect(end).toBeGreaterThan(index);
    const shown = labels.slice(start, end).join('  ');
    expect((start > 0 ? 2 : 0) + shown.length + (end < labels.length ? 2 : 0)).toBeLessThanOrEqual(columns);
    // no room is wasted: one more tab on either side would not fit
    if (columns >= 400) expect({ start, end }).toEqual({ start: 0, end: 12 });
  });
});

describe('k-fold recipes and failed members', () => {
  // Twenty rows, labels 0..9 twice, in three folds: rows 0–6, 7–13 and 14–19.
  const folds = [[0, 1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13], [14, 15, 16, 17, 18, 19]];
  const labelsOf = (rows: number[]) => rows.map((r) => trainLabels[r]!);
  const ms = (values: number[]) => ({ mean: values.reduce((a, b) => a + b, 0) / values.length, sd: 0.01, values });

  /** Recipe a's second fold member failed (its folds 1 and 3 cover 13 rows); recipe b trained all three. */
  function kfoldReport(): EvaluationReport {
    const member = (name: string, fold: number) => ({ name, preset: 'mlp', checkpoint: `${name}/best`, rows: folds[fold]!.length, metrics: computeMetrics(probsReading(labelsOf(folds[fold]!)), labelsOf(folds[fold]!)), history: history([0.8]), validationRows: folds[fold]! });
    const aRows = [...folds[0]!, ...folds[2]!];
    // recipe a out of fold reads row 15 (a 5) as 3; b reads row 8 (an 8) as 0
    const aOof = computeMetrics(probsReading(aRows.map((r) => (r === 15 ? 3 : trainLabels[r]!))), labelsOf(aRows));
    const all = folds.flat();
    const bOof = computeMetrics(probsReading(all.map((r) => (r === 8 ? 0 : trainLabels[r]!))), labelsOf(all));
    return {
      format: 'digits-evaluation',
      version: 1,
      run: 'kf3',
      createdAt: '2026-11-21T10:30:00.000Z',
      dataset: { dir: '/data/uniform/.digits', fingerprint: 'sha256:abc' },
      heldOutRows: aRows,
      members: [member('a-f1', 0), member('a-f3', 2), member('b-f1', 0), member('b-f2', 1), member('b-f3', 2)],
      ensemble: { soft: aOof, hard: aOof },
      failedMembers: [{ name: 'a-f2', error: 'ENOSPC: no space left on device, write' }],
      cv: {
        folds: 3,
        split: 'kfold-3-seed5',
        recipes: [
          { name: 'a', preset: 'mlp', members: ['a-f1', 'a-f3'], rows: 13, accuracy: ms([1, 1]), logLoss: ms([0.2, 0.2]), oof: { variant: 'plain', metrics: aOof } },
          { name: 'b', preset: 'mlp', members: ['b-f1', 'b-f2', 'b-f3'], rows: 20, accuracy: ms([1, 0.86, 1]), logLoss: ms([0.2, 0.3, 0.2]), oof: { variant: 'plain', metrics: bOof } },
        ],
        ensemble: { accuracy: ms([1, 1]), logLoss: ms([0.2, 0.2]) },
        oofFile: 'oof-predictions.json',
      },
    };
  }

  test('each recipe is a view of its out-of-fold predictions, after the ensemble and before the fold members, saying the folds it covers', () => {
    const model = buildDashboardModel(kfoldReport());
    expect(model.views.map((v) => [v.key, v.kind])).toEqual([
      ['ensemble', 'ensemble'], ['ensemble-hard', 'ensemble'],
      ['a', 'recipe'], ['b', 'recipe'],
      ['a-f1', 'member'], ['a-f3', 'member'], ['b-f1', 'member'], ['b-f2', 'member'], ['b-f3', 'member'],
    ]);
    const a = model.views[findView(model, 'a')]!;
    const b = model.views[findView(model, 'b')]!;
    expect(a.title).toBe('a (mlp, out-of-fold over 2 of 3 folds)');
    expect(b.title).toBe('b (mlp, out-of-fold over all 3 folds)');
    // its misread digits are dataset rows: positions in the sorted rows of its fold members
    expect(a.pairs).toEqual([{ trueLabel: 5, predicted: 3, count: 1, samples: [{ position: 8, row: 15 }] }]);
    expect(b.pairs).toEqual([{ trueLabel: 8, predicted: 0, count: 1, samples: [{ position: 8, row: 8 }] }]);
    expect(dashboardText(model, findView(model, 'b'))).toContain('b (mlp, out-of-fold over all 3 folds): accuracy 95.00%');
    // with TTA in the submitted variant, the title says so
    const tta = kfoldReport();
    tta.ensemble.ttaTransforms = ['shift(0,0)', 'shift(1,0)'];
    tta.cv!.recipes[1]!.oof!.variant = 'tta';
    expect(buildDashboardModel(tta).views.find((v) => v.key === 'b')!.title).toBe('b (mlp, out-of-fold over all 3 folds + TTA ×2)');
  });

  test("each recipe's per-fold figures stand under their folds where they fit, and on a line below it where they do not", () => {
    // (the fold of each value recorded, as evaluate writes it since session 44: a-f2 failed)
    const report = kfoldReport();
    report.cv!.recipes[0]!.accuracy.folds = [1, 3];
    report.cv!.recipes[1]!.accuracy.folds = [1, 2, 3];
    report.cv!.ensemble.accuracy.folds = [1, 3];
    const model = buildDashboardModel(report);
    // beside the mean ± sd, under a header of fold numbers (text output, and a wide terminal)
    const wide = crossValidationLines(model);
    expect(wide.some((l) => /acc by fold +1 +2 +3$/.test(l))).toBe(true);
    const widest = Math.max(...wide.filter((l) => !l.startsWith('NOTE')).map((l) => l.length));
    expect(crossValidationLines(model, widest)).toEqual(wide);
    // narrower: each recipe's line, then its folds below it, each named (until session 45 the live view cut them at the edge)
    const narrow = crossValidationLines(model, 80);
    expect(narrow.some((l) => /acc by fold +1 +2 +3$/.test(l))).toBe(false);
    const a = narrow.findIndex((l) => /^ {2}a +acc /.test(l));
    expect(narrow[a + 1]).toMatch(/^ {4}acc by fold {2}1: \S+%  2: —  3: \S+%$/);
    for (const line of narrow.filter((l) => !l.startsWith('NOTE') && !l.includes('cross-validation'))) expect(line.length).toBeLessThanOrEqual(80);
  });

  test('a failed member says it failed, with its error and what to do; a recipe evaluated before its view existed says how to get it', () => {
    const model = buildDashboardModel(kfoldReport());
    // a failed fold member
    expect(() => findView(model, 'a-f2', '/work/runs/kf3')).toThrow(
      expect.objectContaining({
        message: 'member "a-f2" of kf3 failed to train (ENOSPC: no space left on device, write), so it has no view',
        where: { flag: 'member' },
        hint: expect.stringMatching(/^Once what stopped it is put right, `digits train --resume --run \/work\/runs\/kf3` trains it again \(`digits run --resume --run \/work\/runs\/kf3` for a run `digits run` made\), and `digits evaluate --run \/work\/runs\/kf3` scores it\. Its recipe's out-of-fold view, --member a, covers the folds that trained\. Pick one of: ensemble, /),
      }),
    );
    // …naming the run's own resume command when its run.json says which command made it
    expect(() => findView(model, 'a-f2', '/work/runs/kf3', 'digits run --resume --run /work/runs/kf3')).toThrow(
      expect.objectContaining({ hint: expect.stringMatching(/^Once what stopped it is put right, `digits run --resume --run \/work\/runs\/kf3` trains it again and scores it\. Its recipe's/) }),
    );
    expect(() => findView(model, 'a-f2', '/work/runs/kf3', 'digits train --resume --run /work/runs/kf3')).toThrow(
      expect.objectContaining({ hint: expect.stringMatching(/^Once what stopped it is put right, `digits train --resume --run \/work\/runs\/kf3` trains it again, and `digits evaluate --run \/work\/runs\/kf3` scores it\. Its recipe's/) }),
    );
    // a recipe none of whose fold members trained
    const allFailed = kfoldReport();
    allFailed.failedMembers!.push({ name: 'c-f1', error: 'out of memory' }, { name: 'c-f2', error: 'out of memory' }, { name: 'c-f3', error: 'out of memory' });
    expect(() => findView(buildDashboardModel(allFailed), 'c')).toThrow(/^every fold member of the recipe "c" of kf3 failed to train \(c-f1: out of memory; c-f2: out of memory; c-f3: out of memory\), so it has no view$/);
    // a recipe of an evaluation written before the out-of-fold views
    const older = kfoldReport();
    for (const r of older.cv!.recipes) delete r.oof;
    const before = buildDashboardModel(older);
    expect(before.views.some((v) => v.kind === 'recipe')).toBe(false);
    expect(() => findView(before, 'b', '/work/runs/kf3')).toThrow(
      expect.objectContaining({
        message: '"b" is a recipe of the k-fold run kf3 (fold members b-f1, b-f2, b-f3), and its evaluation has no out-of-fold view of it (evaluations before session 44 kept none)',
        hint: expect.stringContaining('`digits evaluate --run /work/runs/kf3` evaluates the run again with one. Pick one of:'),
      }),
    );
    // a name of nothing is as before
    expect(() => findView(model, 'zzz')).toThrow(/^no member or view named "zzz" in the evaluation of kf3$/);
  });
});
