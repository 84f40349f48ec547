import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, test } from 'vitest';
import { importCompetition, resolveCompetitionFiles } from '../../src/data/import.js';
import DataInspect from '../../src/commands/data/inspect.js';
import { runCommand, repoRoot } from '../helpers/run-command.js';
import { type DigitTile, ansiGrey, assertPngName, digitGridPng, gridColumns, inspectDataset, pickSamples, pixelStats, renderDigitGrid, shadeChar, writeDigitGridPng } from '../../src/data/inspect.js';
import { competition, csv, expectUserError, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

describe('pixelStats', () => {
  test.each([
    ['uint8 0–255', Uint8Array.from([0, 255, 0, 255]), 255, { min: 0, max: 1, mean: 0.5, std: 0.5, zeroFraction: 0.5 }],
    ['float32 [0,1]', Float32Array.from([0.25, 0.25, 0.75, 0.75]), 1, { min: 0.25, max: 0.75, mean: 0.5, std: 0.25, zeroFraction: 0 }],
  ])('%s', (_name, images, scale, expected) => {
    const stats = pixelStats(images, scale);
    expect(stats).toMatchObject(expected);
    expect(stats?.histogram.reduce((a, b) => a + b, 0)).toBeCloseTo(1);
  });

  test('an empty set has no statistics', () => {
    expect(pixelStats(new Uint8Array(0), 255)).toBeNull();
  });
});

describe('pickSamples', () => {
  test('takes the classes in turn, seeded', () => {
    const labels = Uint8Array.from({ length: 100 }, (_, i) => (i * 7) % 10);
    const picked = pickSamples(100, labels, 20, 1);
    expect(picked.map((row) => labels[row])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(new Set(picked).size).toBe(20);
    expect(pickSamples(100, labels, 20, 1)).toEqual(picked);
    expect(pickSamples(100, labels, 20, 2)).not.toEqual(picked);
  });

  test('never asks for more rows than there are; unlabelled rows are drawn at random', () => {
    expect(pickSamples(3, Uint8Array.from([1, 1, 2]), 10, 1).sort()).toEqual([0, 1, 2]);
    expect(pickSamples(5, undefined, 3, 1)).toHaveLength(3);
  });
});

const ramp = (size: number) => Float32Array.from({ length: size * size }, (_, i) => i / (size * size - 1));

describe('renderDigitGrid', () => {
  const tiles: DigitTile[] = [
    { image: ramp(4), caption: '#0 label 3', label: '3' },
    { image: new Float32Array(16).fill(1), caption: '#1', label: '1' },
    { image: new Float32Array(16), caption: '#2', label: '2' },
  ];

  test('plain output draws shade characters, one per two pixel rows, with captions', () => {
    const text = renderDigitGrid(tiles, { size: 4, columns: 2, color: false });
    const lines = text.split('\n');
    // caption, 2 lines of pixels, blank; then the second tile row
    expect(lines[0]).toBe('#0 l  #1');
    expect(lines[1]).toBe(`${[0, 1, 2, 3].map((x) => shadeChar((x / 15 + (4 + x) / 15) / 2)).join('')}  ████`);
    expect(lines[2].endsWith('████')).toBe(true);
    expect(lines[4]).toBe('#2');
    expect(text).not.toContain('\x1b[');
  });

  test('colour output draws ▀ with ANSI 256 greys: foreground the upper pixel, background the lower', () => {
    const text = renderDigitGrid([tiles[1]], { size: 4, columns: 1, color: true });
    const pixelLine = text.split('\n')[1];
    expect(pixelLine).toBe('\x1b[38;5;231m\x1b[48;5;231m▀\x1b[49m\x1b[39m'.repeat(4));
    const ramped = renderDigitGrid([tiles[0]], { size: 4, columns: 1, color: true }).split('\n')[1];
    expect(ramped.startsWith(`\x1b[38;5;${ansiGrey(0)}m\x1b[48;5;${ansiGrey(4 / 15)}m▀`)).toBe(true);
  });

  test.each([
    [0, 16],
    [1, 231],
    [0.5, 231 + 13],
    [0.01, 16],
    [0.98, 231],
    [-1, 16],
  ])('ansiGrey(%f) = %i', (value, index) => {
    expect(ansiGrey(value)).toBe(index);
  });

  test.each([
    [80, 28, 10, 2],
    [120, 28, 10, 4],
    [20, 28, 10, 1],
    [200, 28, 3, 3],
  ])('gridColumns(width %i, size %i, count %i) = %i', (width, size, count, columns) => {
    expect(gridColumns(width, size, count)).toBe(columns);
  });
});

describe('digitGridPng', () => {
  test('writes the same grid as a greyscale PNG', async () => {
    const tiles: DigitTile[] = [
      { image: new Float32Array(16).fill(1), caption: '#0', label: '7' },
      { image: new Float32Array(16), caption: '#1', label: '?' },
      { image: new Float32Array(16).fill(0.5), caption: '#2', label: '0' },
    ];
    const dir = await tempDir();
    const file = join(dir, 'grid.png');
    await writeDigitGridPng(file, tiles, { size: 4, columns: 2, zoom: 2 });
    const png = PNG.sync.read(await readFile(file));
    // zoom 2: tiles 8 px, gap 4, caption strip 7 px; 2 columns, 2 rows
    expect(png.width).toBe(4 + 2 * (8 + 4));
    expect(png.height).toBe(4 + 2 * (7 + 8 + 4));
    const grey = (x: number, y: number) => png.data[(y * png.width + x) * 4];
    expect(grey(4 + 1, 4 + 7 + 1)).toBe(255); // first tile: white
    expect(grey(4 + 12 + 1, 4 + 7 + 1)).toBe(0); // second tile: black
    expect(grey(4 + 1, 4 + 19 + 7 + 1)).toBe(128); // third tile, second row: mid grey
    expect(digitGridPng(tiles, { size: 4, columns: 2, zoom: 2 }).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  });

  test('a tile marked original gets a white frame in the gap; > draws in captions', () => {
    const tile = (mark?: 'original'): DigitTile => ({ image: new Float32Array(16), caption: '#0', label: '7>1', mark });
    const read = (t: DigitTile) => PNG.sync.read(digitGridPng([t], { size: 4, columns: 1, zoom: 2 }));
    const marked = read(tile('original'));
    const plain = read(tile());
    const grey = (png: PNG, x: number, y: number) => png.data[(y * png.width + x) * 4];
    // zoom 2: gap 4, caption 7; the image starts at (4, 11); the frame sits just left of it
    expect(grey(marked, 3, 11 + 2)).toBe(255);
    expect(grey(plain, 3, 11 + 2)).toBe(40);
    // the caption's middle glyph is '>' (its top-left cell is ink), not blank
    const inkIn = (png: PNG, x0: number) => [0, 1, 2].some((dx) => [0, 1, 2, 3, 4].some((dy) => grey(png, x0 + dx, 4 + dy) === 255));
    expect(inkIn(plain, 4 + 4)).toBe(true);
  });

  test('an unwritable path is a user error', async () => {
    const dir = await tempDir();
    await expectUserError(writeDigitGridPng(join(dir, 'missing', 'grid.png'), [], { size: 4, columns: 1 }), { message: /cannot write/, flag: 'png' });
  });
});

describe('inspectDataset', () => {
  test('gathers class balance, pixel statistics, splits and samples', async () => {
    const dir = await competition({
      'train.csv': csv('label,a,b,c,d', '1,0,0,0,255', '1,255,255,255,255', '2,0,0,0,0'),
      'test.csv': csv('a,b,c,d', '0,0,0,0'),
    });
    await importCompetition(await resolveCompetitionFiles([dir]));
    const inspection = await inspectDataset({ data: dir, set: 'train', count: 5, seed: 1 });
    expect(inspection.stats.train.classCounts).toEqual([0, 2, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(inspection.stats.train.pixels?.mean).toBeCloseTo(5 / 12);
    expect(inspection.stats.test).toMatchObject({ rows: 1, hasLabels: false, classCounts: null });
    expect(inspection.samples.map((row) => inspection.dataset.trainLabels[row])).toEqual([1, 2, 1]);
    expect(inspection.tiles[0].caption).toMatch(/^#\d label 1$/);
    const tests = await inspectDataset({ data: dir, set: 'test', count: 5, seed: 1 });
    expect(tests.tiles).toEqual([{ image: new Float32Array(4), caption: 'id 1', label: '?' }]);
  });

  test('a folder without an imported dataset says how to make one', async () => {
    const dir = await tempDir();
    await expectUserError(inspectDataset({ data: dir, set: 'train', count: 1, seed: 1 }), { message: /no imported dataset/, hint: /digits data import <folder>, or build a practice one/ });
  });

  test('a project folder (--data\'s default) names the imported competitions below it; a competition not imported yet, its import', async () => {
    // Given a project whose competition is imported under competitions/
    const project = await competition({ 'competitions/tiny/train.csv': csv('label,p0,p1,p2,p3', '1,0,255,0,0', '2,255,0,0,0'), 'notes/readme.txt': 'x' });
    const comp = join(project, 'competitions', 'tiny');
    await importCompetition({ ...(await resolveCompetitionFiles([comp])), orientation: 'as-is' });
    // When the project folder itself is given (as --data's default, the working folder, is)
    // Then the hint names that competition (it said "digits data import <project>", which fails)
    await expectUserError(inspectDataset({ data: project, set: 'train', count: 1, seed: 1 }), { message: /no imported dataset/, hint: /imported competitions below .*: .*competitions\/tiny.*For example --data / });
    // And a competition folder not imported yet is told to import itself
    const fresh = await competition({ 'train.csv': csv('label,p0,p1,p2,p3', '1,0,255,0,0') });
    await expectUserError(inspectDataset({ data: fresh, set: 'train', count: 1, seed: 1 }), { message: /no imported dataset/, hint: /^Import the competition first: digits data import / });
  });
});

describe('digits data inspect --png', () => {
  test('with --count 0 it is refused naming both flags, and no file is reported (--json named one it never wrote)', async () => {
    // Given an imported competition
    const dir = await competition({ 'train.csv': csv('label,a,b,c,d', '1,0,0,0,255', '2,0,0,0,0'), 'test.csv': csv('a,b,c,d', '0,0,0,0') });
    await importCompetition(await resolveCompetitionFiles([dir]));
    const png = join(dir, 'zero.png');
    // When a grid of no digit is asked for, in text and JSON
    for (const extra of [[], ['--json']]) {
      const outcome = await runCommand(DataInspect, ['--data', dir, '--count', '0', '--png', png, ...extra], repoRoot);
      // Then it is refused, naming --png and --count, and no PNG exists
      expect(outcome.exit).toBe(2);
      expect(outcome.stdout + outcome.stderr).toMatch(/--png with --count 0 would draw no digit/);
    }
    expect((await readdir(dir)).filter((f) => f.endsWith('.png'))).toEqual([]);
    // And with digits to draw, the file --json reports is there
    const drawn = await runCommand(DataInspect, ['--data', dir, '--count', '2', '--png', png, '--json'], repoRoot);
    expect(JSON.parse(drawn.stdout).samples.png).toBe(png);
    expect(PNG.sync.read(await readFile(png)).width).toBeGreaterThan(0);
  });

  test('a folder is said to be one, with a file in it suggested (it said "afolder would hold a PNG image under another name")', async () => {
    const dir = await tempDir();
    const folder = join(dir, 'afolder');
    await mkdir(folder);
    for (const given of [folder, `${folder}/`, join(dir, 'new-folder/')]) {
      let caught: unknown;
      try {
        assertPngName(given, 'png', 'samples.png');
      } catch (error) {
        caught = error;
      }
      expect(caught, given).toMatchObject({ message: `cannot write ${given}: it is a folder`, where: { flag: 'png' }, hint: `Give a file in it, e.g. --png ${join(given, 'samples.png')}.` });
    }
    // (a name that is no folder and no .png keeps its own message)
    expect(() => assertPngName(join(dir, 'grid.jpg'), 'png')).toThrow(/grid\.jpg would hold a PNG image under another name/);
    // (a path under a file is no folder: the name passes, for the write to name the file in the way; the stat's ENOTDIR escaped as an internal error)
    await writeFile(join(dir, 'afile'), 'x');
    expect(() => assertPngName(join(dir, 'afile', 'x.png'), 'png')).not.toThrow();
  });
});
