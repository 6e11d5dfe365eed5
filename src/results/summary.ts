/**
 * The one-page summary a radiologist reads in any viewer, without a tag dump: the decision, P(positive) against the
 * threshold, infected volume and share of the lung (per lung and zone), triage priority, algorithm, disclaimer; or,
 * when there is no result, why. Rendered with the burned-in font as an RGB secondary capture.
 */
import { CELL_H, drawText, fillRect, textWidth, type RgbImage } from './font';
import { DISCLAIMER } from './heatmap';
import type { InfectionByRegion, RegionVolume } from './analysis-summary';
import { resultSeriesNumbers, type ResultContext, type ResultObject } from './result-set';
import { secondaryCapture } from './secondary-capture';

/** Page size: 4:3, large enough for 53 characters a line at the body size. */
export const SUMMARY_SIZE = { width: 1024, height: 768 } as const;

/** What the page says (from the analysis, or from the failure). */
export type SummaryFacts =
  | {
      outcome: 'analysed';
      decision: 'positive' | 'indeterminate' | 'negative';
      /** The positive class as the reader knows it (e.g. "COVID-19"), its probability and the operating threshold. */
      positiveClass: string;
      positiveProbability: number;
      threshold: number;
      priority: string;
      infection?: RegionVolume;
      byRegion?: InfectionByRegion;
      /** The key slices as the reader finds them (sliceLabel: "image 126 at 87.5 mm"). */
      keySlices: string[];
      algorithm: string;
    }
  | { outcome: 'not-analysed'; stage: string; reason: string; algorithm: string };

type Rgb = [number, number, number];
const WHITE: Rgb = [255, 255, 255];
const GREY: Rgb = [170, 170, 170];
const BACKGROUND: Rgb = [16, 16, 24];
const BANNER: Record<string, { text: string; colour: Rgb }> = {
  positive: { text: 'POSITIVE - LUNG INFECTION PRESENT', colour: [190, 30, 30] },
  indeterminate: { text: 'INDETERMINATE - POSSIBLE INFECTION', colour: [200, 120, 0] },
  negative: { text: 'NEGATIVE - NO INFECTION DETECTED', colour: [30, 120, 60] },
  failed: { text: 'NO AI RESULT', colour: [90, 90, 100] },
  notApplicable: { text: 'NO AI RESULT - NOT APPLICABLE', colour: [90, 90, 100] },
};

/** Splits text into lines of at most `width` characters at spaces (a longer word is cut). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    for (let w = word; w.length > 0; w = w.slice(width)) {
      const piece = w.slice(0, width);
      if (line && line.length + 1 + piece.length > width) {
        lines.push(line);
        line = piece;
      } else line = line ? `${line} ${piece}` : piece;
    }
  }
  if (line) lines.push(line);
  return lines;
}

const ml = (v: number) => `${v.toFixed(1)} ML`;
const pct = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;

/** The body lines of an analysed study: [label, value] rows. */
function analysedRows(f: Extract<SummaryFacts, { outcome: 'analysed' }>): [string, string][] {
  const rows: [string, string][] = [
    ['TRIAGE PRIORITY', f.priority],
    [`P(${f.positiveClass})`, `${f.positiveProbability.toFixed(3)} VS THRESHOLD ${f.threshold.toFixed(3)}`],
  ];
  if (f.infection && f.decision === 'negative') rows.push(['INFECTED VOLUME', `NONE (LUNG ${f.infection.lungMl.toFixed(0)} ML)`]);
  else if (f.infection) {
    rows.push(['INFECTED VOLUME', `${ml(f.infection.infectedMl)} = ${pct(f.infection.fraction)} OF ${f.infection.lungMl.toFixed(0)} ML LUNG`]);
    if (f.byRegion) {
      const r = f.byRegion;
      rows.push(['  RIGHT LUNG', `${ml(r.right.infectedMl)} = ${pct(r.right.fraction)}`]);
      rows.push(['  LEFT LUNG', `${ml(r.left.infectedMl)} = ${pct(r.left.fraction)}`]);
      rows.push(['  UPPER/MID/LOWER', `${r.upper.infectedMl.toFixed(1)} / ${r.middle.infectedMl.toFixed(1)} / ${ml(r.lower.infectedMl)}`]);
    }
  }
  // One key slice a line, so no label is broken across lines.
  f.keySlices.forEach((k, i) => rows.push([i === 0 ? 'KEY SLICES' : '', k]));
  return rows;
}

/** Renders the page. */
export function renderSummary(f: SummaryFacts): RgbImage {
  const { width, height } = SUMMARY_SIZE;
  const img: RgbImage = { width, height, data: new Uint8Array(width * height * 3) };
  fillRect(img, 0, 0, width, height, BACKGROUND);
  const margin = 32;
  const body = 3;
  const small = 2;
  // The disclaimer first, on a yellow band across the page.
  fillRect(img, 0, 0, width, 48, [255, 220, 0]);
  drawText(img, DISCLAIMER, Math.round((width - textWidth(DISCLAIMER, body)) / 2), 12, body, [0, 0, 0], null);
  let y = 72;
  drawText(img, 'LUNG-TRIAGE AI SUMMARY, CHEST CT', margin, y, 4, WHITE, null);
  y += CELL_H * 4 + 20;
  const banner =
    f.outcome === 'analysed' ? BANNER[f.decision] : /^not applicable/i.test(f.reason) ? BANNER.notApplicable : BANNER.failed;
  fillRect(img, margin - 8, y - 12, width - 2 * (margin - 8), CELL_H * 4 + 20, banner.colour);
  drawText(img, banner.text, margin, y, 4, WHITE, null);
  y += CELL_H * 4 + 32;
  const columns = Math.floor((width - 2 * margin) / textWidth('x', body));
  const labelWidth = 18;
  const rows: [string, string][] =
    f.outcome === 'analysed'
      ? analysedRows(f)
      : [
          ['WHY', f.reason],
          ['STAGE', f.stage],
          ['TRIAGE PRIORITY', 'ROUTINE (NO AI RESULT)'],
        ];
  for (const [label, value] of rows) {
    const lines = wrap(value, columns - labelWidth);
    for (let i = 0; i < lines.length && y < height - 120; i++) {
      if (i === 0) drawText(img, label, margin, y, body, GREY, null);
      drawText(img, lines[i], margin + textWidth(' '.repeat(labelWidth), body), y, body, WHITE, null);
      y += CELL_H * body + 8;
    }
    y += 6;
  }
  // Foot: who made it and what it is not.
  const foot = [
    `ALGORITHM ${f.algorithm}`,
    'NOT REVIEWED BY A PHYSICIAN. FOR WORKLIST TRIAGE ONLY, NOT FOR DIAGNOSIS.',
    f.outcome === 'analysed' && f.decision !== 'negative'
      ? 'DETAILS: AI TRIAGE REPORT (SR), INFECTION SEGMENTATION AND HEAT MAPS IN THIS STUDY.'
      : 'DETAILS: AI TRIAGE REPORT (SR) IN THIS STUDY.',
  ].flatMap((t) => wrap(t, Math.floor((width - 2 * margin) / textWidth('x', small))));
  let fy = height - 16 - foot.length * (CELL_H * small + 6);
  for (const line of foot) {
    drawText(img, line, margin, fy, small, GREY, null);
    fy += CELL_H * small + 6;
  }
  return img;
}

/** The summary page as a secondary capture of its own series; `text` says the same for a tag reader. */
export function summaryPage(ctx: ResultContext, facts: SummaryFacts, text: string): ResultObject {
  return {
    ...secondaryCapture(ctx, {
      sopInstanceUid: ctx.uids.summary,
      seriesUid: ctx.uids.summarySeries,
      seriesNumber: resultSeriesNumbers(ctx.study).summary,
      seriesDescription: 'AI triage summary (not for diagnostic use)',
      instanceNumber: 1,
      patientOrientation: '',
      derivationDescription: `AI triage summary page (lung-triage); ${DISCLAIMER}`,
      imageComments: `${DISCLAIMER}. ${text}`,
      image: renderSummary(facts),
    }),
    kind: 'summary',
  };
}
