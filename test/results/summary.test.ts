/**
 * The summary page (issue 15): one secondary capture in its own result series, for analysed studies (positive and
 * negative), failures and "not applicable"; valid for dciodvfy and pydicom; its pixels hold the rows of text the
 * facts call for. PNGs of each page are written to out/ for review.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { readPart10, SopClass, type NaturalDataset } from '../../src/dicom/dcmjs';
import { buildResults, failureReport, resultSeriesNumbers, type ResultObjects } from '../../src/results';
import { PACKAGE_ROOT } from '../../src/paths';
import { DCIODVFY_DEVICE_UID, dciodvfy, pydicomEval } from './dicom-tools';
import { syntheticAnalysis, syntheticStudy } from './fixtures';

const NOW = new Date('2026-03-01T10:00:00Z');
const fx = syntheticStudy();
const positive = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 4, now: NOW });
const negative = buildResults({ study: fx.study, volume: fx.volume, analysis: syntheticAnalysis(fx.volume, 0.1), keySlices: 4, now: NOW });
const failed = failureReport(fx.study, { stage: 'inference', reason: 'worker deadline exceeded' }, { now: NOW });
const notApplicable = failureReport(
  fx.study,
  { stage: 'series-selection', reason: 'not applicable: lung found on 3% of the slices (a chest CT shows it on at least 25%), so the series is not a chest CT this model can triage' },
  { now: NOW },
);
const pages: [string, ResultObjects][] = [
  ['positive', positive],
  ['negative', negative],
  ['failure', failed],
  ['not-applicable', notApplicable],
];
const summaryOf = (r: ResultObjects) => r.objects.filter((o) => o.kind === 'summary');

/** The page's RGB pixels and, per pixel row, whether it has white (value text) pixels. */
function pixels(d: NaturalDataset): { rgb: Uint8Array; width: number; height: number } {
  return { rgb: new Uint8Array((d.PixelData as ArrayBuffer[])[0]), width: d.Columns as number, height: d.Rows as number };
}

/** Bands of consecutive pixel rows holding pure white pixels: one per line of value text (labels are grey). */
function whiteTextLines(d: NaturalDataset): number {
  const { rgb, width, height } = pixels(d);
  let bands = 0;
  let inBand = false;
  for (let y = 0; y < height; y++) {
    let white = false;
    for (let x = 0; x < width && !white; x++) {
      const o = (y * width + x) * 3;
      white = rgb[o] === 255 && rgb[o + 1] === 255 && rgb[o + 2] === 255;
    }
    if (white && !inBand) bands++;
    inBand = white;
  }
  return bands;
}

function hasColour(d: NaturalDataset, c: [number, number, number]): boolean {
  const { rgb } = pixels(d);
  for (let o = 0; o < rgb.length; o += 3) if (rgb[o] === c[0] && rgb[o + 1] === c[1] && rgb[o + 2] === c[2]) return true;
  return false;
}

describe('summary page', () => {
  test.each(pages)('%s: one RGB secondary capture in the summary series; dciodvfy and pydicom accept it', (name, r) => {
    const [page] = summaryOf(r);
    expect(summaryOf(r)).toHaveLength(1);
    expect(page.sopClassUid).toBe(SopClass.SecondaryCapture);
    const d = readPart10(page.bytes).dataset;
    expect(d).toMatchObject({ PhotometricInterpretation: 'RGB', SamplesPerPixel: 3, BurnedInAnnotation: 'YES', StudyInstanceUID: fx.study.StudyInstanceUID });
    expect(d.SeriesNumber).toBe(resultSeriesNumbers(fx.study).summary);
    expect(String(d.ImageComments)).toMatch(/^AI RESULT, NOT FOR DIAGNOSTIC USE\. /);
    const v = dciodvfy(page.bytes);
    expect(v.errors).toEqual([]);
    expect(v.warnings.filter((w) => !DCIODVFY_DEVICE_UID.some((k) => k.test(w)))).toEqual([]);
    const py = pydicomEval(page.bytes, `d.pixel_array.shape`);
    expect(py).toEqual({ status: 0, output: `(${String(d.Rows)}, ${String(d.Columns)}, 3)` });
    // For the lead's review: out/summary-<case>.png.
    const { rgb, width, height } = pixels(d);
    const png = new PNG({ width, height });
    for (let i = 0; i < width * height; i++) {
      png.data.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
      png.data[4 * i + 3] = 255;
    }
    mkdirSync(path.join(PACKAGE_ROOT, 'out'), { recursive: true });
    writeFileSync(path.join(PACKAGE_ROOT, 'out', `summary-${name}.png`), PNG.sync.write(png));
  });

  test('the disclaimer band on every page; the banner colour says the outcome', () => {
    const page = (r: ResultObjects) => readPart10(summaryOf(r)[0].bytes).dataset;
    for (const [, r] of pages) expect(Array.from(pixels(page(r)).rgb.subarray(0, 3))).toEqual([255, 220, 0]);
    const red: [number, number, number] = [190, 30, 30];
    const green: [number, number, number] = [30, 120, 60];
    expect([hasColour(page(positive), red), hasColour(page(positive), green)]).toEqual([true, false]);
    expect([hasColour(page(negative), red), hasColour(page(negative), green)]).toEqual([false, true]);
    expect([hasColour(page(failed), red), hasColour(page(failed), green)]).toEqual([false, false]);
  });

  test('rows of text as the facts call for: per-lung and per-zone volumes and key slices only where there is infection', () => {
    const lines = (r: ResultObjects) => whiteTextLines(readPart10(summaryOf(r)[0].bytes).dataset);
    // Title and banner, then priority, P(positive), infected volume, right lung, left lung, zones, one per key slice.
    expect(lines(positive)).toBe(2 + 6 + positive.summary.keySlices.length);
    // Negative: priority, P(positive), "none" with the lung volume.
    expect(lines(negative)).toBe(2 + 3);
    // Failure: why, stage, priority.
    expect(lines(failed)).toBe(2 + 3);
    expect(lines(notApplicable)).toBeGreaterThan(lines(failed)); // the reason wraps over lines
    expect(String(readPart10(summaryOf(positive)[0].bytes).dataset.ImageComments)).toMatch(/Decision positive; P\(COVID-19\) 0\.930 vs threshold 0\.420; infected [\d.]+ ml = [\d.]+% of lung; priority URGENT\./);
    expect(String(readPart10(summaryOf(notApplicable)[0].bytes).dataset.ImageComments)).toContain('No AI result (Series selection): not applicable: lung found on 3%');
  });
});
