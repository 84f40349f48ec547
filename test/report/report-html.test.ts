import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import type { DigitSource } from '../../src/evaluation/dashboard-model.js';
import { computeMetrics } from '../../src/evaluation/metrics.js';
import { buildReportHtml, escapeHtml, renderChartSvg, writeReport } from '../../src/report/report-html.js';
import type { EvaluationReport } from '../../src/evaluation/evaluation-report.js';

function probsReading(predicted: number[]): Float32Array {
  const out = new Float32Array(predicted.length * 10).fill(0.2 / 9);
  predicted.forEach((p, i) => (out[i * 10 + p] = 0.8));
  return out;
}

// Thirty held-out rows (three of each digit) at dataset rows 0, 2, 4, …
const heldOutRows = Array.from({ length: 30 }, (_, i) => 2 * i);
const labels = heldOutRows.map((_, i) => i % 10);
const reading = (wrong: Record<number, number>) => labels.map((l, i) => wrong[i] ?? l);
const history = (valAcc: number[]) => valAcc.map((v, epoch) => ({ epoch, loss: 1.2 - v, acc: v, valLoss: 1 - v, valAcc: v, lr: 1e-3, imagesPerSecond: 400, seconds: 5 }));

function fakeReport(): EvaluationReport {
  return {
    format: 'digits-evaluation',
    version: 1,
    run: 'quick <20261121>',
    createdAt: '2026-11-21T10:30:00.000Z',
    dataset: { dir: '/data/.digits', fingerprint: 'sha256:0123456789abcdef0123' },
    heldOutRows,
    members: [
      { name: 'seed002-1', preset: 'seed002', checkpoint: 'seed002-1/best', rows: 30, metrics: computeMetrics(probsReading(reading({ 4: 9 })), labels), history: history([0.5, 0.75, 0.9]) },
      { name: 'deotte-2', preset: 'deotte', checkpoint: 'deotte-2/best', rows: 30, metrics: computeMetrics(probsReading(reading({ 7: 1 })), labels), history: history([0.6, 0.9]) },
      { name: 'an-m5-3', preset: 'an-m5', checkpoint: 'an-m5-3/best', rows: 30, metrics: computeMetrics(probsReading(labels), labels), history: [] },
    ],
    ensemble: {
      // three 4s read as 9 (positions 4, 14, 24), one 7 as 1 (position 17): four misread digits
      soft: computeMetrics(probsReading(reading({ 4: 9, 14: 9, 24: 9, 17: 1 })), labels),
      hard: computeMetrics(probsReading(reading({ 4: 9 })), labels),
      weights: [1, 2, 1],
    },
  };
}

const digits: DigitSource = { size: 28, image: (_set, row) => new Float32Array(784).fill((row % 7) / 7) };

describe('HTML report', () => {
  test('self-contained page: an SVG per chart, the member names, one <img> per misread digit, no external URLs', async () => {
    // Given an evaluation with three members (one without history) and four misread digits
    const report = fakeReport();
    // When the page is built
    const { html, charts, images } = await buildReportHtml(report, { digits });
    // Then: training curves for the two members with history, per-class bars, F1 by member, confusion matrix
    expect(charts).toBe(2 + 3);
    expect(html.match(/<svg\b/g)).toHaveLength(charts);
    expect(html.match(/<\/svg>/g)).toHaveLength(charts);
    expect(html).toContain('data-member="seed002-1"');
    expect(html).toContain('data-member="deotte-2"');
    for (const name of ['seed002-1', 'deotte-2', 'an-m5-3']) expect(html).toContain(name);
    expect(html).toContain('an-m5-3: no training history.');
    // the chart texts come from the data, naming the vote: the equal one, beside the weights this run submits
    expect(html).toContain('Confusion matrix: ensemble (equal soft vote)');
    expect(html).toContain('Per class: ensemble (equal soft vote)');
    expect(html).toContain('; weights 1, 2, 1; submitted: the weighted soft vote.');
    // one <img> per misread example, each an inline PNG
    expect(images).toBe(4);
    const imgs = html.match(/<img\b[^>]*>/g) ?? [];
    expect(imgs).toHaveLength(4);
    for (const img of imgs) expect(img).toMatch(/src="data:image\/png;base64,iVBORw0KGgo[A-Za-z0-9+/=]+"/);
    expect(html).toContain('4→9 #28'); // position 14 of heldOutRows is dataset row 28
    expect(html).toContain('7→1 #34');
    // nothing loads from elsewhere
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link|@import|src="(?!data:)/);
    // names are escaped
    expect(html).toContain('<title>digits evaluation: quick &lt;20261121&gt;</title>');
    expect(html).toContain('weights 1, 2, 1');
  });

  test('a k-fold report has a cross-validation table (mean ± sd and per fold), the ensemble selection and its notes', async () => {
    const report = fakeReport();
    const ms = (values: number[]) => ({ mean: values.reduce((a, b) => a + b, 0) / values.length, sd: 0.02, values });
    report.cv = {
      folds: 2,
      split: 'kfold-2-seed42',
      recipes: [
        { name: 'seed002', preset: 'seed002', members: ['seed002-f1', 'seed002-f2'], rows: 60, accuracy: ms([0.9, 0.94]), logLoss: ms([0.3, 0.2]) },
        // (deotte-f1 failed: its one figure is fold 2's)
        { name: 'deotte', preset: 'deotte', members: ['deotte-f2'], rows: 30, accuracy: { ...ms([0.91]), folds: [2] }, logLoss: { ...ms([0.25]), folds: [2] } },
      ],
      ensemble: { accuracy: ms([0.9, 0.94]), logLoss: ms([0.3, 0.2]) },
      oofFile: 'oof-predictions.json',
    };
    report.ensemble.selection = {
      method: 'caruana', units: 'members', variant: 'plain', rows: 30, names: ['seed002-1', 'deotte-2', 'an-m5-3'], weights: [0.25, 0.5, 0.25], picks: ['deotte-2'],
      equal: { accuracy: 0.9, logLoss: 0.3 }, inSample: { accuracy: 0.95, logLoss: 0.2 }, crossFitted: { accuracy: 0.93, logLoss: 0.25 }, used: true, reason: 'the weights beat the equal vote',
    };
    report.ensemble.warnings = ['the soft vote scores below its best member'];
    const { html } = await buildReportHtml(report, { digits: null });
    expect(html).toContain('<h2>Cross-validation</h2>');
    // (one column per fold, each figure under its fold: a fold without one is blank)
    expect(html).toContain('<th>recipe</th><th>accuracy</th><th>log-loss</th><th>fold 1</th><th>fold 2</th></tr>');
    expect(html).toMatch(/<td>seed002<\/td><td class="num">92\.00 ± 2\.00%<\/td><td class="num">0\.2500 ± 0\.0200<\/td><td class="num">90\.00%<\/td><td class="num">94\.00%<\/td><\/tr>/);
    expect(html).toMatch(/<td>deotte<\/td><td class="num">91\.00 ± 2\.00%<\/td><td class="num">0\.2500 ± 0\.0200<\/td><td class="num"><\/td><td class="num">91\.00%<\/td><\/tr>/);
    expect(html).toContain('<h2>Ensemble selection</h2>');
    expect(html).toMatch(/weighted, in-sample \(optimistic\)<\/td><td class="num">95\.00%/);
    expect(html).toContain('<p class="warning">Note: the soft vote scores below its best member.</p>');
    expect(html).toContain('each predicted out of fold');
  });

  test('without the dataset cache the gallery lists the rows without images', async () => {
    const { html, images } = await buildReportHtml(fakeReport(), { digits: null, note: 'misread digits not drawn: gone' });
    expect(images).toBe(0);
    expect(html).not.toContain('<img');
    expect(html.match(/class="missing"/g)).toHaveLength(4);
    expect(html).toContain('misread digits not drawn: gone');
  });

  test('a Vega-Lite spec renders to inline SVG in Node', async () => {
    const svg = await renderChartSvg({ data: { values: [{ x: 1, y: 2 }, { x: 2, y: 5 }] }, mark: 'line', encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } });
    expect(svg).toMatch(/^<svg\b[^>]*class="marks"/);
    expect(svg).toContain('<path');
    expect(svg).not.toContain('xmlns');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('writeReport', () => {
  test('--out naming a folder (or ending in a slash) writes report.html in it; a file in a folder that does not exist is an error naming --out that leaves no temp file', async () => {
    // Given an evaluated run folder (its dataset cache gone) and an existing output folder
    const dir = await mkdtemp(path.join(os.tmpdir(), 'digits-report-'));
    try {
      const run = path.join(dir, 'run');
      await mkdir(run);
      await writeFile(path.join(run, 'evaluation.json'), JSON.stringify(fakeReport()));
      const out = path.join(dir, 'reports');
      await mkdir(out);
      // When the report is written with --out that folder, Then it lands in it as report.html
      const written = await writeReport({ run, out });
      expect(written.file).toBe(path.join(out, 'report.html'));
      expect((await readFile(written.file, 'utf8')).startsWith('<!doctype html>')).toBe(true);
      // A path ending in a slash is a folder, made when missing (it was written as a file of that name)
      const slashed = await writeReport({ run, out: `${path.join(dir, 'new-folder')}/` });
      expect(slashed.file).toBe(path.join(dir, 'new-folder', 'report.html'));
      // When --out is in a folder that does not exist, Then the error names --out and says what to do
      const missing = path.join(dir, 'nope', 'r.html');
      await expect(writeReport({ run, out: missing })).rejects.toMatchObject({ message: `cannot write ${missing}: the folder ${path.dirname(missing)} does not exist`, where: { file: missing, flag: 'out' }, hint: expect.stringMatching(/Create the folder/) });
      // When --out names a file that is not .html (the competition's train.csv, a run.json), Then it is refused and the file kept
      await writeFile(path.join(dir, 'train.csv'), 'label,pixel0\n');
      await expect(writeReport({ run, out: path.join(dir, 'train.csv') })).rejects.toMatchObject({ message: expect.stringMatching(/would put an HTML report under a name that is not \.html/), where: { flag: 'out' }, hint: `Name it ${path.join(dir, 'train')}.html, or give a folder to write report.html into.` });
      expect(await readFile(path.join(dir, 'train.csv'), 'utf8')).toBe('label,pixel0\n');
      await rm(path.join(dir, 'train.csv'));
      // And no file, temp or otherwise, is left beside the targets
      expect((await readdir(dir)).sort()).toEqual(['new-folder', 'reports', 'run']);
      expect(await readdir(out)).toEqual(['report.html']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  test('an existing file is replaced only when it is this run\'s report, and not by one that lost its misread digits, unless --force', async () => {
    // Given an evaluated run whose dataset cache is gone (so its report cannot draw digits), and files where its report could go
    const dir = await mkdtemp(path.join(os.tmpdir(), 'digits-report-'));
    try {
      const run = path.join(dir, 'run');
      await mkdir(run);
      await writeFile(path.join(run, 'evaluation.json'), JSON.stringify(fakeReport()));
      const other = path.join(dir, 'other-report.html');
      const otherReport = { ...fakeReport(), run: 'another run' };
      await writeFile(other, (await buildReportHtml(otherReport, { digits })).html);
      const notes = path.join(dir, 'notes.html');
      await writeFile(notes, '<h1>my notes</h1>\n');
      // When the report would replace another run's report, or a page digits did not write
      // Then it is refused, naming the file and --force, and both files are kept (until session 43 both were overwritten)
      await expect(writeReport({ run, out: other })).rejects.toMatchObject({ message: `${other} is the report of another run (another run); the report of run quick <20261121> would replace it`, where: { file: other, flag: 'out' }, hint: 'Pass another --out, or --force to replace it.' });
      await expect(writeReport({ run, out: notes })).rejects.toMatchObject({ message: expect.stringMatching(/notes\.html is a file digits did not write; the report of run quick <20261121> would replace it$/) });
      expect(await readFile(notes, 'utf8')).toBe('<h1>my notes</h1>\n');
      expect(await readFile(other, 'utf8')).toContain('<meta name="digits-run" content="another run">');
      // When this run's report there drew misread digits that this one cannot draw (the data moved since)
      const own = path.join(run, 'report.html');
      await writeFile(own, (await buildReportHtml(fakeReport(), { digits })).html);
      // Then it is kept, saying why and what to do
      await expect(writeReport({ run })).rejects.toMatchObject({ message: expect.stringMatching(/report\.html draws 4 misread digits; this report could not draw them \(misread digits not drawn: .*digits evaluate --run .* --data <competition>\)\)$/), hint: 'Keep it, or pass another --out; --force replaces it without the digits.' });
      expect(await readFile(own, 'utf8')).toContain('content="4"');
      // And --force replaces each of them
      for (const out of [other, notes, own]) expect((await writeReport({ run, out, force: true })).images).toBe(0);
      expect(await readFile(notes, 'utf8')).toContain('<meta name="digits-run" content="quick &lt;20261121&gt;">');
      // (a folder where the run's report.html goes is no report: the write names it, as it did before the check; the check's read let a raw EISDIR out)
      const other2 = path.join(dir, 'run2');
      await mkdir(path.join(other2, 'report.html'), { recursive: true });
      await writeFile(path.join(other2, 'evaluation.json'), JSON.stringify(fakeReport()));
      await expect(writeReport({ run: other2 })).rejects.toMatchObject({ message: expect.stringMatching(/^cannot write .*run2\/report\.html/), hint: 'Pass a file name with --out.' });
      // And this run's own report, without digits as before, or written before the marker (its title only), is replaced without --force
      expect((await writeReport({ run })).file).toBe(own);
      await writeFile(own, '<!doctype html>\n<html><head><title>digits evaluation: quick &lt;20261121&gt;</title></head></html>\n');
      expect((await writeReport({ run })).file).toBe(own);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
