import { describe, expect, test } from 'vitest';
import { autoEnsemble, chooseAugmentation, describeChoice, describeOverrides, chooseProbe, chooseValidation, epochRows, planMembers, planProbes, planWithSyntheticRows, probeRates, refitProbes, reserveSeconds, spreadRate, spreadTurn, MAX_MEMBERS, MEMBER_START_SECONDS, VALIDATION_ROW_COST } from '../../src/ensemble/auto.js';
import type { BackgroundProfile } from '../../src/data/background.js';

const base = { trainRows: 10_800, imagesPerSecond: 400, concurrency: 2, testRows: 10_000, validationRows: 1_200 };

describe('budget planning', () => {
  test('15 minutes left on a 12,000-row competition from the noisy checkpoint: rounds of two members at the target epochs, within the time left', () => {
    // Given 900 s left at 400 img/s per worker on 2 workers
    const plan = planMembers({ ...base, remainingSeconds: 900, start: 'noisy' });
    // Then: 4 epochs each (28.65 s per epoch: 10,800 training rows and 1,200 validation rows at
    // 0.55 of one), as many rounds of 2 as fit with the reserve, each round starting its members (8 s)
    expect(plan.epochs).toBe(4);
    expect(plan.members % 2).toBe(0);
    expect(epochRows(10_800, 1_200)).toBe(10_800 + VALIDATION_ROW_COST * 1_200);
    const epochSeconds = epochRows(10_800, 1_200) / 400;
    expect(plan.trainSeconds).toBe(Math.round(plan.rounds * (4 * epochSeconds + MEMBER_START_SECONDS)));
    expect(plan.trainSeconds + plan.reserveSeconds).toBeLessThanOrEqual(900);
    // one more round would not fit
    const more = (plan.rounds + 1) * (4 * epochSeconds + MEMBER_START_SECONDS) + reserveSeconds(plan.members + 2, 10_000, 1_200, 800);
    expect(plan.members === MAX_MEMBERS || more > 900).toBe(true);
    expect(plan.fits).toBe(true);
  });

  test('the reserve for evaluation scales with the measured speed (20 s + per member: 2 s + 11,200 rows × 9 passes at 12× the training speed)', () => {
    // nothing measured: 5,000 img/s → 20 + 4 × (2 + 20.16) = 109
    expect(reserveSeconds(4, 10_000, 1_200)).toBe(109);
    // 2 workers × 400 img/s → 9,600 img/s → 20 + 4 × (2 + 10.5) = 70
    expect(reserveSeconds(4, 10_000, 1_200, 800)).toBe(70);
    // a machine twice as fast keeps less
    expect(reserveSeconds(4, 10_000, 1_200, 1600)).toBeLessThan(70);
  });

  test('the arithmetic: 560 s, 4 epochs of 28.65 s → 3 rounds (6 members), and the time left makes them 5 epochs', () => {
    // reserve(6) = 95, reserve(8) = 120 at 800 img/s; a round of 4 epochs: 4 × 28.65 + 8 = 122.6 s
    // 3 rounds: 367.8 + 95 = 462.8 ≤ 560 → fits; 4 rounds: 490.4 + 120 = 610.4 > 560
    // 5 epochs: 3 × (143.25 + 8) = 453.75, + 95 = 548.75 ≤ 560; 6 epochs: 539.7 + 95 > 560
    expect([reserveSeconds(6, 10_000, 1_200, 800), reserveSeconds(8, 10_000, 1_200, 800)]).toEqual([95, 120]);
    const plan = planMembers({ ...base, remainingSeconds: 560, start: 'noisy' });
    expect([plan.members, plan.epochs, plan.rounds, plan.trainSeconds]).toEqual([6, 5, 3, 454]);
    expect(plan.reason).toMatch(/less than another round: 5 epochs/);
    // and with 540 s the fifth epoch does not fit (453.75 + 95 > 540)
    expect(planMembers({ ...base, remainingSeconds: 540, start: 'noisy' })).toMatchObject({ members: 6, epochs: 4, trainSeconds: 368 });
  });

  test('from scratch a short budget shortens the members before it drops below four of them', () => {
    // 15 epochs × 27 s = 405 s a round: with 700 s only one round fits; at 6 epochs two do
    const plan = planMembers({ ...base, remainingSeconds: 700, start: 'scratch' });
    expect(plan.epochs).toBeLessThan(15);
    expect(plan.members).toBeGreaterThanOrEqual(4);
    expect(plan.trainSeconds + plan.reserveSeconds).toBeLessThanOrEqual(700);
  });

  test('at the least epochs of its start with fewer than four members fitting, the reason says so (it said they were shortened so that 4+ fit)', () => {
    // clean start, 3 epochs at least: 2 members take 81 s + 45 s, 4 members 162 s + 70 s > 200 s
    const plan = planMembers({ ...base, remainingSeconds: 200, start: 'clean' });
    expect([plan.members, plan.epochs]).toEqual([2, 3]);
    expect(plan.reason).toMatch(/^shortened to 3 epochs \(target 8\) the least for the clean start, and still fewer than 4 members fit: 2 members × 3 epochs/);
  });

  test('when the most members fit with time to spare, they train longer (up to twice the target), still within the time left', () => {
    // Given 880 s left at 678 img/s per worker (16.9 s an epoch) from the noisy start (target 4):
    // 12 members × 4 epochs take 6 × (67.6 + 8) = 454 s + 118 s of reserve
    const plan = planMembers({ ...base, imagesPerSecond: 678, remainingSeconds: 880, start: 'noisy' });
    // Then the 12 members get 7 epochs: 6 rounds × (7 × 16.9 + 8) s = 758 s + 118 s ≤ 880 s (8 would be 860 + 118 s)
    expect(plan.reserveSeconds).toBe(118);
    expect([plan.members, plan.epochs, plan.rounds, plan.trainSeconds]).toEqual([12, 7, 6, 758]);
    expect(plan.trainSeconds + plan.reserveSeconds).toBeLessThanOrEqual(880);
    expect(plan.reason).toMatch(/time to spare: 7 epochs/);
    // And never more than twice the target, however long the budget
    expect(planMembers({ ...base, remainingSeconds: 100_000, start: 'noisy' })).toMatchObject({ members: 12, epochs: 8 });
  });

  test('with synthetic rows an epoch covers them too, and members target 9 such epochs, two members before more', () => {
    // Given 43,200 synthetic rows beside the 10,800 (54,000 in all, and the 1,200 validation rows: 119 s an epoch at 460 img/s) and 900 s left
    const plan = planMembers({ ...base, imagesPerSecond: 460, remainingSeconds: 900, start: 'noisy', syntheticRows: 43_200 });
    // Then one round of 2 members, cut to the 7 epochs that fit (9 would not), rather than more members of fewer epochs
    expect([plan.members, plan.epochs, plan.rounds]).toEqual([2, 7, 1]);
    expect(plan.trainSeconds).toBe(Math.round((7 * epochRows(54_000, 1_200)) / 460 + MEMBER_START_SECONDS));
    expect(plan.trainSeconds + plan.reserveSeconds).toBeLessThanOrEqual(900);
    expect(plan.reason).toMatch(/^shortened to 7 epochs \(target 9\) so that 2\+ members fit: 2 members × 7 epochs/);
    // With time for more than one round of 9 epochs and less than two, the two members grow longer (at most twice the target)
    const roomy = planMembers({ ...base, imagesPerSecond: 600, remainingSeconds: 1_055, start: 'noisy', syntheticRows: 43_200 });
    expect([roomy.members, roomy.epochs]).toEqual([2, 11]);
    expect(roomy.reason).toMatch(/11 epochs each instead of the 9 targeted from the noisy start with 43200 synthetic rows/);
    // and twice that time trains two rounds of two (longer than 9 epochs again)
    expect(planMembers({ ...base, imagesPerSecond: 600, remainingSeconds: 2_200, start: 'noisy', syntheticRows: 43_200 })).toMatchObject({ members: 4, epochs: 11 });
    // A short budget shortens the two members to one such epoch
    expect(planMembers({ ...base, imagesPerSecond: 460, remainingSeconds: 200, start: 'noisy', syntheticRows: 43_200 })).toMatchObject({ members: 2, epochs: 1 });
  });

  test('a budget too short for one epoch over the synthetic rows gets fewer of them, or none, and the plan then fits', () => {
    // Given an AWGN competition of 720 training rows whose noise model asks for 53,280 synthetic rows, and 94 s left
    const small = { trainRows: 720, imagesPerSecond: 300, concurrency: 2, testRows: 300, validationRows: 80, start: 'noisy' as const, syntheticRows: 53_280 };
    expect(planMembers({ ...small, remainingSeconds: 94 }).fits).toBe(false);
    // When the plan is made with the rows the budget allows
    const cut = planWithSyntheticRows({ ...small, remainingSeconds: 94 });
    // Then one round of one epoch over the competition's and the kept synthetic rows fits the time left
    expect(cut.syntheticRows).toBeGreaterThanOrEqual(720);
    expect(cut.syntheticRows).toBeLessThan(53_280);
    expect(cut.plan.fits).toBe(true);
    expect(cut.plan.trainSeconds + cut.plan.reserveSeconds).toBeLessThanOrEqual(94);
    expect(cut.plan.reason).toMatch(new RegExp(`^${cut.syntheticRows} of the 53280 synthetic rows \\(one epoch over all of them would not fit the time left\\); `));
    // and with 30 s left there is no room for even the competition's own rows again: none are kept
    const none = planWithSyntheticRows({ ...small, remainingSeconds: 30 });
    expect(none.syntheticRows).toBe(0);
    expect(none.plan.reason).toMatch(/^no synthetic rows \(one epoch over the 53280 made for this noise would not fit the time left\); /);
    // Under 4 folds a round is 4 members (2 rounds of 2 workers), so fewer rows fit than with the holdout
    const kfold = planWithSyntheticRows({ ...small, trainRows: 600, validationRows: 200, folds: 4, remainingSeconds: 200 });
    expect(kfold.plan.fits).toBe(true);
    expect(kfold.plan.trainSeconds + kfold.plan.reserveSeconds).toBeLessThanOrEqual(200);
    // A count the user gave (--synthetic-rows N) is kept, and the plan says it does not fit
    expect(planWithSyntheticRows({ ...small, remainingSeconds: 94 }, { userAsked: true })).toMatchObject({ syntheticRows: 53_280, plan: { fits: false } });
    // and a plan that fits keeps every row asked for, its reason unchanged
    const roomy = planWithSyntheticRows({ ...small, remainingSeconds: 1_000 });
    expect(roomy).toEqual({ plan: planMembers({ ...small, remainingSeconds: 1_000 }), syntheticRows: 53_280 });
  });

  test('under k-fold, members come a whole recipe (k fold members) at a time, each on (k − 1)/k of the rows', () => {
    // Given 5 folds of 12,000 rows (9,600 to train and 2,400 to validate per member), 900 s left
    const kfold = { ...base, trainRows: 9_600, validationRows: 2_400, folds: 5 };
    const plan = planMembers({ ...kfold, remainingSeconds: 900, start: 'noisy' });
    // Then the members are whole recipes of 5, at most 10 (two recipes: 15 would pass 12)
    expect(plan.members % 5).toBe(0);
    expect(plan.members).toBeLessThanOrEqual(10);
    expect(plan).toMatchObject({ folds: 5, recipes: plan.members / 5 });
    // in rounds of 2 workers (the fifth member of a recipe shares a round with the next recipe's first)
    expect(plan.rounds).toBe(Math.ceil(plan.members / 2));
    expect(plan.trainSeconds).toBe(Math.round(plan.rounds * (plan.epochs * (epochRows(9_600, 2_400) / 400) + MEMBER_START_SECONDS)));
    expect(plan.trainSeconds + plan.reserveSeconds).toBeLessThanOrEqual(900);
    expect(plan.reason).toMatch(/recipe\(s\) × 5 folds = \d+ members/);
    // a long budget: 2 recipes × 5 folds, twice the target epochs
    expect(planMembers({ ...kfold, remainingSeconds: 100_000, start: 'noisy' })).toMatchObject({ members: 10, recipes: 2, epochs: 8 });
    // 4 folds: 3 recipes of 4 reach the 12-member cap; 13 folds: one recipe of 13
    expect(planMembers({ ...kfold, folds: 4, remainingSeconds: 100_000, start: 'noisy' })).toMatchObject({ members: 12, recipes: 3 });
    expect(planMembers({ ...kfold, folds: 13, remainingSeconds: 100_000, start: 'noisy' })).toMatchObject({ members: 13, recipes: 1 });
    // too short for one recipe at the minimum epochs: one recipe anyway, marked as not fitting
    expect(planMembers({ ...kfold, remainingSeconds: 60, start: 'clean' })).toMatchObject({ members: 5, recipes: 1, epochs: 1, rounds: 3, fits: false });
  });

  test('the default validation: 4 folds when 2 whole recipes and as many members as the holdout plan fit, else the holdout', () => {
    // Given a 12,000-row competition: holdout members train on 10,800 rows, 4-fold members on 9,000
    const holdout = (remainingSeconds: number, extra = {}) => planMembers({ ...base, remainingSeconds, start: 'noisy', ...extra });
    const kfold = (remainingSeconds: number, extra = {}) => planMembers({ ...base, trainRows: 9_000, validationRows: 3_000, folds: 4, remainingSeconds, start: 'noisy', ...extra });
    // When 16 minutes are left at 400 img/s per worker, 3 recipes × 4 folds fit, 12 members like the holdout plan's
    const roomy = chooseValidation(holdout(960), kfold(960));
    expect(roomy).toMatchObject({ kind: 'kfold', by: 'default', plan: { folds: 4, recipes: 3, members: 12 } });
    expect(roomy.reason).toMatch(/^4-fold cross-validation: 3 recipes × 4 folds fit \(12 members, the holdout plan's 12\)/);
    // When 42,000 rows leave room for 4 members: one recipe × 4 folds would come from one checkpoint
    const big = { trainRows: 37_800, validationRows: 4_200 };
    const kaggle = chooseValidation(holdout(900, big), kfold(900, { trainRows: 31_500, validationRows: 10_500 }));
    expect(kaggle.kind).toBe('holdout');
    expect(kaggle.plan.folds).toBeUndefined();
    expect(kaggle.reason).toMatch(/^a 10% holdout, not 4-fold cross-validation: only one recipe × 4 folds fit \(one starting checkpoint\), under the 2 it needs; --folds 4 asks for it anyway$/);
    // When 8 members fit either way (the clean start's 8 epochs on a slow machine): 2 recipes × 4 folds
    const eight = chooseValidation(planMembers({ ...base, remainingSeconds: 1100, start: 'clean' }), planMembers({ ...base, trainRows: 9_000, validationRows: 3_000, folds: 4, remainingSeconds: 1100, start: 'clean' }));
    expect(eight).toMatchObject({ kind: 'kfold', plan: { recipes: 2, members: 8 } });
    // When k-fold fits 3 recipes but fewer members than the holdout plan (a plan that is not the cap: not reachable
    // at 4 folds, whose recipes come 4 at a time, unless the holdout fits more, as here by hand)
    const fewer = chooseValidation({ ...holdout(900), members: 14 }, kfold(900));
    expect(fewer).toMatchObject({ kind: 'holdout', reason: expect.stringContaining('it fits 12 members where the holdout plan fits 14') });
    // When nothing fits the budget under k-fold, the holdout plan (which says whether it fits)
    const short = chooseValidation(holdout(60), kfold(60));
    expect(short).toMatchObject({ kind: 'holdout', reason: expect.stringMatching(/its plan does not fit the budget|only one recipe/) });
  });

  test('a budget too short for anything still plans one round of one epoch, and says it does not fit', () => {
    const plan = planMembers({ ...base, remainingSeconds: 30, start: 'clean' });
    expect(plan).toMatchObject({ members: 2, epochs: 1, rounds: 1, fits: false });
  });

  test('probes take at most a quarter of the budget at the assumed speed', () => {
    const p = planProbes({ budgetSeconds: 1200, trainRows: 10_800, concurrency: 2, starts: 3, probes: 6 });
    expect(p.seconds).toBe(300);
    const images = p.lrFindSteps * 64 * 3 + p.probeRows * p.probeEpochs * 6;
    expect(images / (400 * 2)).toBeLessThanOrEqual(300);
    expect(p.probeRows).toBe(10_800);
    // 8 minutes: fewer rows per probe
    const short = planProbes({ budgetSeconds: 480, trainRows: 10_800, concurrency: 2, starts: 3, probes: 6 });
    expect(short.probeEpochs).toBe(1);
    expect(short.lrFindSteps * 64 * 3 + short.probeRows * 6).toBeLessThanOrEqual(120 * 800);
  });

  test('on a busy machine the probes are cut to what is left of the choosing share', () => {
    const plan = planProbes({ budgetSeconds: 480, trainRows: 10_800, concurrency: 2, starts: 3, probes: 6 });
    // the range tests ran at 400 img/s: nothing changes
    expect(refitProbes(plan, { secondsLeft: 90, imagesPerSecond: 400, concurrency: 2, probes: 6, trainRows: 10_800 })).toEqual(plan);
    // at 60 img/s with 60 s left: 60 × 60 × 2 / 6 = 1,200 rows per probe
    expect(refitProbes(plan, { secondsLeft: 60, imagesPerSecond: 60, concurrency: 2, probes: 6, trainRows: 10_800 })).toMatchObject({ probeRows: 1200, probeEpochs: 1 });
    // nothing left: still 4 batches
    expect(refitProbes(plan, { secondsLeft: -30, imagesPerSecond: 60, concurrency: 2, probes: 6, trainRows: 10_800 })).toMatchObject({ probeRows: 256 });
  });
});

describe('decisions', () => {
  const profile = (noisy: boolean): BackgroundProfile => ({ images: 100, mean: noisy ? 0.5 : 0, sd: 0, litShare: noisy ? 0.8 : 0, noisy, reason: noisy ? 'noisy background' : 'clean background' });
  test('noisy backgrounds get whole-pixel shifts filled from the background; clean ones rotation and shifts', () => {
    expect(chooseAugmentation(profile(true)).config).toEqual({ pixelShift: 2 });
    expect(chooseAugmentation(profile(false)).config).toEqual({ rotation: 10, widthShift: 0.1, heightShift: 0.1 });
  });
  test('checkpoint starts are probed at a tenth and a thirtieth of the range test\'s edge; fresh weights one and two decades lower', () => {
    expect(probeRates('noisy', 4.6e-3)).toEqual([4.6e-4, 1.5e-4]);
    // a curve that rises early (a checkpoint trained on this very noise) is still probed at rates that train
    expect(probeRates('noisy', 1.8e-5)).toEqual([3e-5, 1e-5]);
    expect(probeRates('scratch', 1.23e-1)).toEqual([1.2e-2, 1.2e-3]);
  });
  test('the probe with the lowest holdout loss wins; failed probes never do', () => {
    const p = (start: 'noisy' | 'clean' | 'scratch', valLoss: number, error?: string) => ({ start, learningRate: 1e-3, epochs: 1, rows: 10, valLoss, valAcc: 0.9, imagesPerSecond: 1, seconds: 1, error });
    expect(chooseProbe([p('scratch', 0.3), p('noisy', 0.05), p('clean', 0.1), p('clean', NaN, 'boom')]).start).toBe('noisy');
    expect(() => chooseProbe([p('clean', NaN, 'boom')])).toThrow(/every probe failed/);
  });
  test('the ensemble the decisions make', () => {
    const spec = autoEnsemble({ start: 'noisy', learningRate: 1e-4, augmentation: { pixelShift: 2 }, members: 4, epochs: 4 });
    expect(spec.members).toHaveLength(4);
    expect(spec.members.map((m) => m.learningRate)).toEqual([1e-4, 7e-5, 1.4e-4, 1e-4]);
    expect(new Set(spec.members.map((m) => m.seed)).size).toBe(4);
    expect(spec.members[0]).toMatchObject({ preset: 'seed002', init: 'checkpoints/mnist-noisy/seed002', epochs: 4, augmentation: { pixelShift: 2 }, schedule: { kind: 'exponential', decay: 0.464 } });
    expect(autoEnsemble({ start: 'scratch', learningRate: 1e-3, augmentation: {}, members: 2, epochs: 1 }).members[0]!.init).toBeUndefined();
  });
  test('members cycle through the start\'s independently pretrained checkpoints; pseudo-label inits still win', () => {
    const checkpoints = ['a/seed002', 'a/seed002-2', 'a/seed002-3'];
    const spec = autoEnsemble({ start: 'noisy', learningRate: 1e-4, augmentation: {}, members: 7, epochs: 4, checkpoints });
    expect(spec.members.map((m) => m.init)).toEqual([0, 1, 2, 0, 1, 2, 0].map((i) => checkpoints[i]));
    expect(spec.description).toMatch(/3 checkpoints in turn/);
    const round2 = autoEnsemble({ start: 'noisy', learningRate: 1e-4, augmentation: {}, members: 2, epochs: 4, checkpoints, inits: ['r/m1', 'r/m2'] });
    expect(round2.members.map((m) => m.init)).toEqual(['r/m1', 'r/m2']);
    expect(round2.description).not.toMatch(/checkpoints in turn/);
    // one checkpoint: every member starts from it
    const one = autoEnsemble({ start: 'noisy', learningRate: 1e-4, augmentation: {}, members: 3, epochs: 4, checkpoints: ['a/seed002'] });
    expect(new Set(one.members.map((m) => m.init))).toEqual(new Set(['a/seed002']));
    expect(one.description).not.toMatch(/checkpoints in turn/);
  });
  test('the description says what the members were given: the checkpoints they use, their rates, and a decay only when they decay', () => {
    const four = ['c/seed002', 'c/seed002-2', 'c/seed002-3', 'c/seed002-4'];
    // one recipe × 4 folds from the clean start uses one of its four checkpoints, at one rate, for one constant epoch
    const single = autoEnsemble({ start: 'clean', learningRate: 1.3e-4, spreadLearningRate: 1.3e-3, augmentation: {}, members: 4, epochs: 1, checkpoints: four, folds: 4 });
    expect(new Set(single.members.map((m) => m.init))).toEqual(new Set(['c/seed002']));
    expect(single.members.map((m) => m.schedule)).toEqual([{ kind: 'constant' }]);
    expect(single.description).toBe('1 seed002 recipe × 4 folds from the clean start, 1 epoch at 1.3e-4, chosen on holdout rows');
    // two members from two of the four checkpoints: both rates, times 1 and 0.7
    const two = autoEnsemble({ start: 'clean', learningRate: 2.1e-4, spreadLearningRate: 2.1e-3, augmentation: {}, members: 2, epochs: 3, checkpoints: four });
    expect(two.members.map((m) => m.learningRate)).toEqual([2.1e-4, 1.47e-3]);
    expect(two.description).toBe('2 seed002 members from the clean start (2 of its 4 checkpoints in turn), 3 epochs at 2.1e-4 and 2.1e-3 in turn, times 1 and 0.7 in turn (decaying to a tenth), chosen on holdout rows');
    // twelve from all four, one rate
    const twelve = autoEnsemble({ start: 'noisy', learningRate: 6e-5, augmentation: {}, members: 12, epochs: 7, checkpoints: four.map((c) => c.replace('c/', 'n/')) });
    expect(twelve.description).toBe('12 seed002 members from the noisy start (4 checkpoints in turn), 7 epochs at 6.0e-5, times 1, 0.7 and 1.4 in turn (decaying to a tenth), chosen on holdout rows');
  });
  test('from the clean checkpoint, every other member trains at a third of the edge when the probes chose its lower rate', () => {
    expect(spreadRate('clean', 1.8e-3, 6.1e-5)).toBe(6e-4);
    // the probes chose the higher rate (a tenth of the edge), or another start: no spread
    expect(spreadRate('clean', 2.2e-3, 2.2e-4)).toBeUndefined();
    expect(spreadRate('noisy', 5.1e-3, 1.7e-4)).toBeUndefined();
    expect(spreadRate('scratch', 1e-1, 1e-3)).toBeUndefined();
    const three = ['c/seed002', 'c/seed002-2', 'c/seed002-3'];
    const spec = autoEnsemble({ start: 'clean', learningRate: 1e-4, spreadLearningRate: 1e-3, augmentation: {}, members: 6, epochs: 8, checkpoints: three });
    expect(spec.members.map((m) => m.learningRate)).toEqual([1e-4, 7e-4, 1.4e-4, 1e-3, 7e-5, 1.4e-3]);
    expect(spec.description).toMatch(/1\.0e-4 and 1\.0e-3 in turn/);
    // with 3 checkpoints in turn, each comes round at both rates
    const pairs = (s: typeof spec) => new Set(s.members.map((m) => `${m.init} ${m.learningRate! >= 5e-4 ? 'far' : 'near'}`));
    expect(pairs(spec).size).toBe(6);
  });
  test('the choice names the second rate only when the plan has a second recipe to train at it', () => {
    const probe = (start: 'clean' | 'noisy', learningRate: number, valLoss: number) => ({ start, learningRate, epochs: 2, rows: 900, valLoss, valAcc: 0.99, imagesPerSecond: 400, seconds: 10 });
    const probes = [probe('noisy', 3e-4, 0.03), probe('clean', 8.4e-5, 0.02)];
    const best = chooseProbe(probes);
    // one recipe × 8 folds, and a holdout plan of one member: every member trains at the chosen rate, and the choice says only that
    // (until session 44 it said "every other member at 8.4e-4", and recorded that rate)
    for (const plan of [{ members: 8, recipes: 1, folds: 8 }, { members: 1 }]) {
      const chosen = describeChoice(probes, best, 8.4e-4, plan);
      expect(chosen).toEqual({ start: 'clean', learningRate: 8.4e-5, reason: 'lowest holdout loss of 2 probes (noisy @ 3.0e-4: 0.0300, clean @ 8.4e-5: 0.0200)' });
    }
    // two recipes × 4 folds: every other recipe; four members on a holdout: every other member
    expect(describeChoice(probes, best, 8.4e-4, { members: 8, recipes: 2, folds: 4 })).toMatchObject({ spreadLearningRate: 8.4e-4, reason: expect.stringMatching(/; every other recipe at 8\.4e-4, a third of the range test's edge/) });
    expect(describeChoice(probes, best, 8.4e-4, { members: 4 })).toMatchObject({ spreadLearningRate: 8.4e-4, reason: expect.stringMatching(/; every other member at 8\.4e-4/) });
    // no second rate for the start: none said, whatever the plan
    expect(describeChoice(probes, best, undefined, { members: 12 })).not.toHaveProperty('spreadLearningRate');
  });
  test('with an even number of checkpoints in turn, the rates swap on each pass, so no checkpoint is tied to one rate', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => spreadTurn(i, 4))).toEqual([false, true, false, true, true, false, true, false]);
    expect([0, 1, 2, 3, 4, 5].map((i) => spreadTurn(i, 3))).toEqual([false, true, false, true, false, true]);
    expect([0, 1, 2, 3].map((i) => spreadTurn(i, 0))).toEqual([false, true, false, true]);
    const four = ['c/seed002', 'c/seed002-2', 'c/seed002-3', 'c/seed002-4'];
    const spec = autoEnsemble({ start: 'clean', learningRate: 1e-4, spreadLearningRate: 1e-3, augmentation: {}, members: 8, epochs: 8, checkpoints: four });
    const far = spec.members.map((m) => m.learningRate! >= 5e-4);
    // the first four as with plain alternation (the 4-member plan is unchanged), then swapped
    expect(far).toEqual([false, true, false, true, true, false, true, false]);
    for (const c of four) expect(new Set(spec.members.filter((m) => m.init === c).map((m) => m.learningRate! >= 5e-4)).size).toBe(2);
    // pseudo-labelling's round 2 keeps each member's rate of round 1
    const round2 = autoEnsemble({ start: 'clean', learningRate: 1e-4 / 3, spreadLearningRate: 1e-3 / 3, augmentation: {}, members: 8, epochs: 2, checkpoints: four, inits: spec.members.map((m) => `r/${m.name}`) });
    expect(round2.members.map((m) => m.learningRate! >= 5e-4 / 3)).toEqual(far);
  });
});

describe('the flags over auto\'s plan', () => {
  test('each is named with what auto had chosen, --seed too (it went unnamed)', () => {
    const record = { plan: { epochs: 6 }, chosen: { learningRate: 8.8e-4, spreadLearningRate: 8.8e-3 } } as Parameters<typeof describeOverrides>[1];
    expect(describeOverrides({ seed: 7, epochs: 1, learningRate: 0.001, batchSize: 16 }, record)).toBe("--seed 7 (member i seeded 7 + i), --epochs 1 (auto planned 6), --learning-rate 0.001 (auto chose 8.8e-4 and 8.8e-3), --batch-size 16 (auto's is 64)");
    expect(describeOverrides({ seed: 3 }, record)).toBe('--seed 3 (member i seeded 3 + i)');
    expect(describeOverrides({}, record)).toBe('');
  });
});
