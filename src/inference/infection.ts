/**
 * Volume evidence from the infection map (models 2.0): per slice, the lung area (the HU lung mask of
 * preprocessing) and the infected area (the calibrated per-position infection probability over the lung crop); per
 * volume, the infected share of the lung and the patient-level infection answer. Pure functions.
 */
import type { Box } from './preprocess';

/** What one slice contributes, in pixels of the source slice (the caller scales to mm²). */
export interface SliceEvidence {
  /** Lung pixels, with infection outside the aerated lung mask counted as lung. */
  lungPixels: number;
  /** Pixels near the lung whose infection probability reaches the threshold (the binary segmentation's area). */
  infectedPixels: number;
  /** Both, on the image's left half of the crop (the patient's right in a standard axial image). */
  imageLeftLungPixels: number;
  imageLeftInfectedPixels: number;
  /** Highest infection probability near the lung (0..1). */
  maxProbability: number;
}

/**
 * The map cell (0..cells-1) of a crop pixel `offset` (0..extent-1) from the crop box's edge: the cells tile the crop
 * box. The infected areas count whole cells this way, and the DICOM SEG draws the same cells (src/results/seg.ts).
 */
export function mapCell(offset: number, extent: number, cells: number): number {
  return Math.min(cells - 1, Math.floor((offset * cells) / extent));
}

/**
 * Evidence of one slice, and the map restricted to the lung in place: map cells (mw x mh over the crop box, values
 * 0..1) with no lung pixel in their 3x3 cell neighbourhood are set to 0, so air, table and body wall show nothing;
 * a slice without lung keeps nothing. A cell counts as infected when its probability reaches `threshold` (summing
 * the soft probability instead would let a faint haze over a whole clean lung add up to a lesion).
 */
export function sliceEvidence(
  map: Float64Array,
  mw: number,
  mh: number,
  box: Box,
  lung: Uint8Array,
  columns: number,
  lungPixels: number,
  threshold: number,
): SliceEvidence {
  const none: SliceEvidence = { lungPixels: 0, infectedPixels: 0, imageLeftLungPixels: 0, imageLeftInfectedPixels: 0, maxProbability: 0 };
  if (lungPixels === 0) {
    map.fill(0);
    return none;
  }
  const bh = box.y1 - box.y0;
  const bw = box.x1 - box.x0;
  const cellPixels = new Float64Array(mw * mh);
  const cellLung = new Float64Array(mw * mh);
  let leftLung = 0;
  // The map column of each crop column, computed once per slice rather than once per pixel.
  const colCell = new Int32Array(bw);
  for (let x = 0; x < bw; x++) colCell[x] = mapCell(x, bw, mw);
  for (let y = box.y0; y < box.y1; y++) {
    const cy = mapCell(y - box.y0, bh, mh);
    for (let x = box.x0; x < box.x1; x++) {
      const cx = colCell[x - box.x0];
      const c = cy * mw + cx;
      cellPixels[c]++;
      if (lung[y * columns + x]) {
        cellLung[c]++;
        if (cx + 0.5 < mw / 2) leftLung++;
      }
    }
  }
  const ev = { ...none, lungPixels, imageLeftLungPixels: leftLung };
  for (let cy = 0; cy < mh; cy++) {
    for (let cx = 0; cx < mw; cx++) {
      const c = cy * mw + cx;
      let near = false;
      for (let dy = -1; dy <= 1 && !near; dy++)
        for (let dx = -1; dx <= 1 && !near; dx++) {
          const yy = cy + dy;
          const xx = cx + dx;
          near = yy >= 0 && yy < mh && xx >= 0 && xx < mw && cellLung[yy * mw + xx] > 0;
        }
      if (!near) {
        map[c] = 0;
        continue;
      }
      const p = map[c];
      ev.maxProbability = Math.max(ev.maxProbability, p);
      if (p < threshold) continue;
      const infected = cellPixels[c];
      // Infection outside the aerated mask (consolidation at the chest wall) is lung too.
      const outside = cellPixels[c] - cellLung[c];
      ev.infectedPixels += infected;
      ev.lungPixels += outside;
      if (cx + 0.5 < mw / 2) {
        ev.imageLeftInfectedPixels += infected;
        ev.imageLeftLungPixels += outside;
      }
    }
  }
  return ev;
}

/** The manifest's patient-level rule (manifest.infection). */
export interface InfectionRule {
  /** A map cell is infected from this probability. */
  pixelThreshold: number;
  present: number;
  indeterminate: number;
  urgentFraction: number;
  minSliceAreaMm2: number;
}

/** Patient-level infection answer. */
export type InfectionDecision = 'present' | 'indeterminate' | 'absent';

/** The infection answer for the volume's infected share of the lung (0..1). */
export function infectionDecision(fraction: number, rule: InfectionRule): InfectionDecision {
  return fraction >= rule.present ? 'present' : fraction >= rule.indeterminate ? 'indeterminate' : 'absent';
}

/**
 * Thickness each slice stands for (mm): half the distance to each neighbour along the slice normal, the nearest
 * neighbour's distance at the ends; `fallback` for a single slice.
 */
export function sliceThicknesses(positionsMm: number[], fallback: number): number[] {
  const n = positionsMm.length;
  if (n < 2) return positionsMm.map(() => fallback);
  return positionsMm.map((p, i) => {
    const before = i > 0 ? p - positionsMm[i - 1] : positionsMm[1] - positionsMm[0];
    const after = i < n - 1 ? positionsMm[i + 1] - p : p - positionsMm[n - 2];
    return Math.abs(before + after) / 2;
  });
}
