import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { BUILTIN_ENSEMBLES, ensembleFromJson, resolveEnsemble, expandFolds, foldsOverride, withFolds } from '../../src/ensemble/ensemble-spec.js';
import { UserError } from '../../src/errors.js';

describe('ensemble specs', () => {
  test('a member gets its preset recipe as defaults and overrides win', () => {
    const spec = ensembleFromJson(JSON.stringify({ members: [{ preset: 'deotte' }, { preset: 'seed002', epochs: 3, learningRate: 0.01, name: 'b' }] }), 'e.json');
    expect(spec.name).toBe('e');
    expect(spec.validation).toEqual({ kind: 'shared', fraction: 0.1, seed: 42 });
    expect(spec.members[0]).toMatchObject({ name: 'deotte-1', optimizer: 'adam', epochs: 30, batchSize: 64, schedule: { kind: 'exponential', decay: 0.95 }, augmentation: { rotation: 10, zoom: 0.1, widthShift: 0.1 } });
    expect(spec.members[1]).toMatchObject({ name: 'b', optimizer: 'rmsprop', epochs: 3, learningRate: 0.01 });
  });

  test.each([
    ['unknown top-level key', { members: [{ preset: 'mlp' }], memebrs: [] }, /\(top level\)\.memebrs: unknown key/],
    ['no members', { members: [] }, /members: must be a non-empty array/],
    ['unknown member key', { members: [{ preset: 'mlp', epocs: 3 }] }, /members\[0\]\.epocs: unknown key/],
    ['unknown preset', { members: [{ preset: 'resnet' }] }, /members\[0\]\.preset: unknown preset "resnet"/],
    ['missing preset', { members: [{ epochs: 2 }] }, /members\[0\]\.preset: is required/],
    ['wrong type', { members: [{ preset: 'mlp', epochs: '3' }] }, /members\[0\]\.epochs: must be a whole number ≥ 1, got "3"/],
    ['fractional epochs', { members: [{ preset: 'mlp', epochs: 2.5 }] }, /members\[0\]\.epochs: must be a whole number/],
    ['bad optimizer', { members: [{ preset: 'mlp', optimizer: 'adagrad' }] }, /members\[0\]\.optimizer/],
    ['unknown augmentation', { members: [{ preset: 'mlp', augmentation: { rotate: 10 } }] }, /augmentation\.rotate: unknown key/],
    ['negative augmentation', { members: [{ preset: 'mlp', augmentation: { zoom: -1 } }] }, /augmentation\.zoom: must be a number from 0 to below 1 \(the scale is 1 ± zoom\), got -1/],
    ['a zoom that can scale a digit to nothing', { members: [{ preset: 'mlp', augmentation: { zoom: 1 } }] }, /augmentation\.zoom: must be a number from 0 to below 1/],
    ['a contrast that inverts digits', { members: [{ preset: 'mlp', augmentation: { contrast: 1.8 } }] }, /augmentation\.contrast: must be a number from 0 to 1 \(the factor is 1 ± contrast\), got 1\.8/],
    ['a shear of 90°', { members: [{ preset: 'mlp', augmentation: { shear: 90 } }] }, /augmentation\.shear: must be a number from 0 to below 90 \(degrees\)/],
    ['an erasing probability above 1', { members: [{ preset: 'mlp', augmentation: { erasing: 1.5 } }] }, /augmentation\.erasing: must be a number from 0 to 1 \(a probability\)/],
    ['a fractional whole-pixel shift', { members: [{ preset: 'mlp', augmentation: { pixelShift: 2.5 } }] }, /augmentation\.pixelShift: must be a whole number from 0 to 14/],
    // (a field smoothed by 0 pixels scrambled the digits into noise; it was taken until session 49)
    ['an elastic field smoothed by 0 pixels', { members: [{ preset: 'mlp', augmentation: { elastic: 2, elasticSigma: 0 } }] }, /augmentation\.elasticSigma: must be a number above 0 and up to 14 \(smoothing of the elastic field, pixels\), got 0/],
    ['a background noise floor above its top', { members: [{ preset: 'mlp', augmentation: { backgroundNoise: 0.5, backgroundNoiseMin: 0.8 } }] }, /augmentation\.backgroundNoiseMin: must be at most backgroundNoise \(0\.5\), got 0\.8/],
    ['bad schedule', { members: [{ preset: 'mlp', schedule: { kind: 'cosine' } }] }, /schedule\.kind/],
    // (each was accepted until session 38: label smoothing 1.5 trained a network worse than guessing)
    ['label smoothing of 1 or more', { members: [{ preset: 'mlp', labelSmoothing: 1.5 }] }, /members\[0\]\.labelSmoothing: must be a number in \[0, 1\)/],
    ['negative label smoothing', { members: [{ preset: 'mlp', labelSmoothing: -0.1 }] }, /labelSmoothing: must be a number in \[0, 1\)/],
    ['momentum of 1 or more', { members: [{ preset: 'mlp', optimizer: 'sgd', momentum: 5 }] }, /momentum: must be a number in \[0, 1\)/],
    ['negative l2', { members: [{ preset: 'mlp', l2: -1 }] }, /l2: must be a number ≥ 0/],
    ['a plateau factor that raises the rate', { members: [{ preset: 'mlp', reduceLROnPlateau: { factor: 2, patience: 1 } }] }, /reduceLROnPlateau\.factor: must be a number in \(0, 1\)/],
    ['a negative plateau patience', { members: [{ preset: 'mlp', reduceLROnPlateau: { factor: 0.5, patience: -1 } }] }, /reduceLROnPlateau\.patience: must be a whole number ≥ 0/],
    ['a negative minimum rate', { members: [{ preset: 'mlp', reduceLROnPlateau: { factor: 0.5, patience: 1, minLearningRate: -5 } }] }, /reduceLROnPlateau\.minLearningRate: must be a number ≥ 0/],
    ['a fractional early-stopping patience', { members: [{ preset: 'mlp', earlyStopping: { patience: 1.5 } }] }, /earlyStopping\.patience: must be a whole number ≥ 0/],
    ['bad validation', { members: [{ preset: 'mlp' }], validation: { kind: 'shared', fraction: 2 } }, /validation\.fraction/],
    ['one fold', { members: [{ preset: 'mlp' }], validation: { kind: 'kfold', folds: 1 } }, /validation\.folds: must be a whole number ≥ 2/],
    ['k-fold without folds', { members: [{ preset: 'mlp' }], validation: { kind: 'kfold' } }, /validation\.folds: is required/],
    ['k-fold with a fraction', { members: [{ preset: 'mlp' }], validation: { kind: 'kfold', folds: 5, fraction: 0.1 } }, /validation\.fraction: unknown key/],
    ['a seed beside a saved split (it was ignored)', { members: [{ preset: 'mlp' }], validation: { kind: 'kfold', split: 'cv4', seed: 7 } }, /validation\.seed: is the saved split's own when "split" names one/],
    ['a fraction beside a saved hold-out', { members: [{ preset: 'mlp' }], validation: { kind: 'shared', split: 'holdout', fraction: 0.2 } }, /validation\.fraction: is the saved split's own when "split" names one/],
    ['a seed beside a saved hold-out', { members: [{ preset: 'mlp' }], validation: { kind: 'shared', split: 'holdout', seed: 3 } }, /validation\.seed: is the saved split's own when "split" names one/],
    ['a shared hold-out of no fraction nor split', { members: [{ preset: 'mlp' }], validation: { kind: 'shared', seed: 3 } }, /validation\.fraction: is required \(a number in \(0, 1\)\), unless "split" names a hold-out split saved by `digits data split`/],
    ['duplicate names', { members: [{ preset: 'mlp', name: 'a' }, { preset: 'mlp', name: 'a' }] }, /duplicate member name "a"/],
    // Names are folder names (until session 42 "../escape" trained beside the run and "evaluation.json" crashed evaluate)
    ['a member name that climbs out of the run folder', { members: [{ preset: 'mlp', name: '../escape' }] }, /members\[0\]\.name: "\.\.\/escape" is not a usable name: it names a folder/],
    ['an empty member name', { members: [{ preset: 'mlp', name: '' }] }, /members\[0\]\.name: "" is not a usable name/],
    ['a member name "."', { members: [{ preset: 'mlp', name: '.' }] }, /members\[0\]\.name: "\." is not a usable name/],
    ['a member name with a slash', { members: [{ preset: 'mlp', name: 'a/b' }] }, /members\[0\]\.name: "a\/b" is not a usable name/],
    ["a member named as the run's own file", { members: [{ preset: 'mlp', name: 'evaluation.json' }] }, /members\[0\]\.name: "evaluation\.json" is the name of a file or folder the run folder keeps for itself/],
    ['a member named run.json', { members: [{ preset: 'mlp', name: 'run.json' }] }, /keeps for itself/],
    ['an ensemble name that climbs out of runs/', { name: '../../outside', members: [{ preset: 'mlp' }] }, /^name: "\.\.\/\.\.\/outside" is not a usable name/],
    ['an empty ensemble name (its run folder began with "-")', { name: '', members: [{ preset: 'mlp' }] }, /^name: "" is not a usable name/],
    ['a split name that is a path (it was blamed on a --name flag)', { members: [{ preset: 'mlp' }], validation: { kind: 'shared', split: '../dataset' } }, /^validation\.split: "\.\.\/dataset" is not a split name/],
    ['a misspelt top-level key', { name: 't', memebrs: [{ preset: 'mlp' }] }, /^\(top level\)\.memebrs: unknown key; did you mean "members"\? \(and 1 more: members\)/],
  ])('%s is a UserError naming the key', (_label, input, message) => {
    const run = () => ensembleFromJson(JSON.stringify(input), 'bad.json');
    expect(run).toThrow(UserError);
    expect(run).toThrow(message);
    try {
      run();
    } catch (error) {
      expect((error as UserError).where?.file).toBe('bad.json');
    }
  });

  test('a byte-order mark is read past; a key given twice is an error at its second place; a file name is made a usable ensemble name', () => {
    expect(ensembleFromJson('\ufeff{ "members": [ { "preset": "mlp", "epochs": 1 } ] }\n', 'bom.json').members[0]!.epochs).toBe(1);
    try {
      ensembleFromJson('{ "members": [\n  { "preset": "mlp", "epochs": 1, "epochs": 3 } ] }', 'dup.json');
      expect.unreachable();
    } catch (error) {
      expect((error as UserError).message).toBe('the ensemble file gives the key "epochs" twice in one object');
      expect((error as UserError).where).toEqual({ file: 'dup.json', line: 2, column: 35 });
    }
    expect(ensembleFromJson('{ "members": [ { "preset": "mlp" } ] }', 'dir/my ensemble (v2).json').name).toBe('my-ensemble-v2-');
    expect(ensembleFromJson('{ "name": "seed002_v2.1+mix", "members": [ { "preset": "mlp", "name": "A-1_b.2" } ] }', 'e.json').name).toBe('seed002_v2.1+mix');
  });

  test('a schema error names the line and column of its key in the file (a key path alone was hard to find in a long file)', () => {
    const text = '{\n  "members": [\n    { "preset": "mlp" },\n    { "preset": "mlp",\n      "augmentation": { "rotation": 400 } },\n    { "preset": "mlp", "epocs": 3 }\n  ]\n}\n';
    const where = (t: string) => {
      try {
        ensembleFromJson(t, 'long.json');
      } catch (error) {
        return { message: (error as UserError).message, where: (error as UserError).where };
      }
      return null;
    };
    expect(where(text.replace('"epocs"', '"epochs"'))).toMatchObject({ message: expect.stringMatching(/^members\[1\]\.augmentation\.rotation: /), where: { file: 'long.json', line: 5, column: 25 } });
    // an unknown key is found where it is typed; a missing key at the object that lacks it
    expect(where(text.replace('"rotation": 400', '"rotation": 4'))).toMatchObject({ message: expect.stringMatching(/^members\[2\]\.epocs: unknown key; did you mean "epochs"\?/), where: { line: 6, column: 24 } });
    expect(where('{ "members": [\n  { "epochs": 2 } ] }')).toMatchObject({ message: expect.stringMatching(/^members\[0\]\.preset: is required/), where: { line: 2, column: 3 } });
  });

  test('--ensemble naming a folder says so; a typo of a built-in name gets a "did you mean"', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'digits-ens-'));
    try {
      await expect(resolveEnsemble(folder)).rejects.toMatchObject({ message: `${folder} is a folder, not an ensemble file`, where: { flag: 'ensemble' }, hint: expect.stringContaining(path.join(folder, 'ensemble.json')) });
      await expect(resolveEnsemble('quik')).rejects.toMatchObject({ message: 'no built-in ensemble or file named quik', hint: expect.stringMatching(/^Did you mean quick\? Use one of quick, full/) });
      await expect(resolveEnsemble('zzzzzz')).rejects.toMatchObject({ hint: expect.stringMatching(/^Use one of quick, full/) });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test('invalid JSON says so with the file', () => {
    expect(() => ensembleFromJson('{"members": [', 'broken.json')).toThrow(/not valid JSON/);
  });

  test('invalid JSON names the line and column of the mistake, as an editor counts them', () => {
    const text = '{\n  "name": "x",\n  "members" [\n  ]\n}\n';
    try {
      ensembleFromJson(text, 'broken.json');
      expect.unreachable();
    } catch (error) {
      const user = error as UserError;
      expect(user.where).toEqual({ file: 'broken.json', line: 3, column: 13 });
      expect(user.message).not.toMatch(/position/);
    }
    // Cut short: the end of the text.
    try {
      ensembleFromJson('{\n  "members": [', 'short.json');
      expect.unreachable();
    } catch (error) {
      expect((error as UserError).where).toEqual({ file: 'short.json', line: 2, column: 15 });
    }
  });

  test('the built-in ensembles are valid: quick fine-tunes from clean checkpoints, full is 15 × 30 on a shared holdout', () => {
    const quick = BUILTIN_ENSEMBLES.quick!();
    expect(quick.members.length).toBeGreaterThanOrEqual(2);
    expect(quick.members.every((m) => /^checkpoints\/mnist-(noisy|clean)\//.test(m.init ?? ''))).toBe(true);
    const full = BUILTIN_ENSEMBLES.full!();
    expect(full.members).toHaveLength(15);
    expect(full.members.every((m) => m.epochs === 30)).toBe(true);
    // (one shared holdout, on which selection can weigh the members; bagged ones are scored out of bag)
    expect(full.validation).toEqual({ kind: 'shared', fraction: 0.1, seed: 42 });
  });
});

describe('k-fold validation', () => {
  test('each recipe expands to one member per fold, named <recipe>-f1..fk; other kinds keep their members', () => {
    const spec = ensembleFromJson(JSON.stringify({ validation: { kind: 'kfold', folds: 3 }, members: [{ preset: 'mlp', name: 'a', seed: 7 }, { preset: 'mlp', name: 'b' }] }));
    expect(spec.validation).toEqual({ kind: 'kfold', folds: 3, seed: 42 });
    const expanded = expandFolds(spec);
    expect(expanded.map((m) => [m.member.name, m.recipe, m.fold])).toEqual([
      ['a-f1', 'a', 0], ['a-f2', 'a', 1], ['a-f3', 'a', 2],
      ['b-f1', 'b', 0], ['b-f2', 'b', 1], ['b-f3', 'b', 2],
    ]);
    expect(expanded.slice(0, 3).every((m) => m.member.seed === 7)).toBe(true);
    const shared = ensembleFromJson(JSON.stringify({ members: [{ preset: 'mlp', name: 'a' }] }));
    expect(expandFolds(shared).map((m) => m.member.name)).toEqual(['a']);
    // --folds turns any ensemble into a k-fold one, keeping the shared seed
    expect(withFolds({ ...shared, validation: { kind: 'shared', fraction: 0.1, seed: 9 } }, 5).validation).toEqual({ kind: 'kfold', folds: 5, seed: 9 });
    expect(() => withFolds(shared, 1)).toThrow(/whole number ≥ 2/);
    // a saved split the file names is not replaced in silence
    expect(() => withFolds({ ...shared, validation: { kind: 'kfold', folds: 0, seed: 42, split: 'cv4' } }, 3)).toThrow(/validates on the saved split "cv4"; --folds would replace it/);
    // a file's own number of folds replaced by --folds is said, not replaced in silence
    const three = { ...shared, name: 'cv', validation: { kind: 'kfold' as const, folds: 3, seed: 42 } };
    expect(foldsOverride(three, 5)).toBe("--folds 5 replaces the 3 folds of ensemble cv's validation");
    expect(foldsOverride(three, 3)).toBeUndefined();
    expect(foldsOverride(shared, 5)).toBeUndefined();
    // a saved split may be named instead
    expect(ensembleFromJson(JSON.stringify({ validation: { kind: 'kfold', split: 'my-folds' }, members: [{ preset: 'mlp' }] })).validation).toEqual({ kind: 'kfold', folds: 0, seed: 42, split: 'my-folds' });
    // and a saved hold-out, whose fraction and seed are read from it when the dataset is known
    const saved = ensembleFromJson(JSON.stringify({ validation: { kind: 'shared', split: 'holdout' }, members: [{ preset: 'mlp' }] }));
    expect(saved.validation).toEqual({ kind: 'shared', fraction: 0, seed: 0, split: 'holdout' });
    expect(() => withFolds(saved, 3)).toThrow(/validates on the saved split "holdout"; --folds would replace it/);
  });
});

describe('L2 weight decay', () => {
  test('a member l2 regularises every conv and dense kernel of a fresh model; with init it is refused', async () => {
    const { buildModel } = await import('../../src/model/presets.js');
    const model = buildModel('seed002', { l2: 1e-4 });
    const regularised = model.layers.filter((l) => (l as unknown as { kernelRegularizer?: unknown }).kernelRegularizer);
    expect(regularised.map((l) => l.getClassName())).toEqual([...Array(7).fill('Conv2D'), 'Dense', 'Dense']);
    model.dispose();
    expect(() => ensembleFromJson(JSON.stringify({ members: [{ preset: 'mlp', l2: 1e-4, init: 'x' }] }))).toThrow(/members\[0\]\.l2/);
    // and freezeUpTo without init (nothing to freeze: it was ignored) is refused, naming the key
    expect(() => ensembleFromJson(JSON.stringify({ members: [{ preset: 'mlp', freezeUpTo: 'dense_1' }] }))).toThrow(/members\[0\]\.freezeUpTo.*freezes layers of the checkpoint in "init", and this member has none/);
  });
});
