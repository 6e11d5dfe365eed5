import { mapCell, sliceThicknesses } from '../inference/infection';
import type { Analysis, SliceResult } from '../inference/types';
import type { HuVolume } from '../volume/types';
import { SCT } from './codes';
import type { Code } from '../dicom/code';

/** Lesion laterality from the lesion maps. */
export type Laterality = 'left' | 'right' | 'both' | 'none';

/** The laterality's finding-site code (SNOMED CT lungs), or undefined for 'none'. */
export function lateralityCode(l: Laterality): Code | undefined {
  return l === 'left' ? SCT.LeftLung : l === 'right' ? SCT.RightLung : l === 'both' ? SCT.BothLungs : undefined;
}

/**
 * Mass of the lesion map on the patient's right and left of the crop centre, for one slice.
 * With ImageOrientationPatient's row vector pointing to +x (patient left, as in HFS axial), image right is
 * patient left; a row vector towards -x (e.g. FFS or flipped) swaps them.
 */
export function lesionMass(s: SliceResult, rowDirectionX: number): { right: number; left: number } {
  let imageLeft = 0;
  let imageRight = 0;
  const half = s.mapWidth / 2;
  for (let y = 0; y < s.mapHeight; y++) {
    for (let x = 0; x < s.mapWidth; x++) {
      const v = s.lesionMap[y * s.mapWidth + x];
      if (x + 0.5 < half) imageLeft += v;
      else imageRight += v;
    }
  }
  return patientSides(imageLeft, imageRight, rowDirectionX);
}

/**
 * An image-left / image-right pair as the patient's right / left: with ImageOrientationPatient's row vector pointing
 * to +x (patient left, as in HFS axial) the image's left is the patient's right; a row vector towards -x swaps them.
 */
export function patientSides<T>(imageLeft: T, imageRight: T, rowDirectionX: number): { right: T; left: T } {
  return rowDirectionX >= 0 ? { right: imageLeft, left: imageRight } : { right: imageRight, left: imageLeft };
}

/** Share of the lesion mass that makes a side count (below it, the side is treated as noise). */
export const SIDE_SHARE = 0.2;

/** Laterality over a set of slices: each side counts when it holds at least SIDE_SHARE of the total mass. */
export function laterality(slices: SliceResult[], rowDirectionX: number): Laterality {
  let left = 0;
  let right = 0;
  for (const s of slices) {
    const m = lesionMass(s, rowDirectionX);
    left += m.left;
    right += m.right;
  }
  const total = left + right;
  if (total <= 0) return 'none';
  const l = left / total >= SIDE_SHARE;
  const r = right / total >= SIDE_SHARE;
  return l && r ? 'both' : l ? 'left' : 'right';
}

/** Whether the analysis carries volume evidence (models 2.0: an infection map, lung and infected areas). */
export function hasInfectionEvidence(a: Analysis): boolean {
  return a.patient.infection !== undefined;
}

/** Slices the model saw lung on: the denominator of the lesion burden (a non-empty crop box for older models). */
export function lungSlices(a: Analysis): SliceResult[] {
  if (hasInfectionEvidence(a)) return a.slices.filter((s) => s.lungAreaMm2 > 0);
  return a.slices.filter((s) => s.cropBox.width > 0 && s.cropBox.height > 0);
}

/**
 * Slices with lesion: lung slices whose infected area reaches the model's minimum (models 2.0), or whose lesion
 * probability reaches the slice threshold (older models). None when the study is negative.
 */
export function lesionSlices(a: Analysis): SliceResult[] {
  if (a.patient.decision === 'negative') return [];
  if (hasInfectionEvidence(a)) return lungSlices(a).filter((s) => s.infectedAreaMm2 >= (a.minInfectedSliceAreaMm2 ?? 0) && s.infectedAreaMm2 > 0);
  return a.slices.filter((s) => s.lesionProbability >= a.sliceLesionThreshold);
}

/** Lesion burden (0..1): the infected share of the lung (models 2.0), or the share of lung slices with lesion. */
export function lesionBurden(a: Analysis): number {
  if (a.patient.infection) return a.patient.infection.fraction;
  const lung = lungSlices(a);
  if (lung.length === 0) return 0;
  return lung.filter((s) => s.lesionProbability >= a.sliceLesionThreshold).length / lung.length;
}

/**
 * Key slices: the k slices with lesion (lesionSlices) that show the most of it (infected area; lesion probability
 * for older models; ties to the lower index), greedily kept at least `minGap` slices apart so they show different
 * levels (filled from the remaining ranks when too few are far enough apart), returned in volume order. None on a
 * negative study; never more than the slices with lesion.
 */
export function selectKeySlices(a: Analysis, k: number, minGap = 1): SliceResult[] {
  const score = (s: SliceResult) => (hasInfectionEvidence(a) ? s.infectedAreaMm2 : s.lesionProbability);
  const ranked = (hasInfectionEvidence(a) ? lesionSlices(a) : [...a.slices]).sort((x, y) => score(y) - score(x) || x.index - y.index);
  const want = Math.max(0, Math.min(k, ranked.length));
  const chosen: SliceResult[] = [];
  for (const s of ranked) {
    if (chosen.length >= want) break;
    if (chosen.every((c) => Math.abs(c.index - s.index) >= minGap)) chosen.push(s);
  }
  for (const s of ranked) {
    if (chosen.length >= want) break;
    if (!chosen.includes(s)) chosen.push(s);
  }
  return chosen.sort((x, y) => x.index - y.index);
}

/** A key slice's region: a closed polyline (column,row pairs on the source image) and the lung it lies in. */
export interface LesionRegion {
  points: number[];
  /** The patient's lung; undefined for the fallback region (the crop box of a slice whose map is empty). */
  side?: 'right' | 'left';
}

/**
 * The regions of a slice's lesion map, one per lung: the bounding box of the slice pixels whose map cell reaches
 * half the map's maximum, in each half of the crop (the halves the engine's lateral areas use), on the source
 * image's pixel grid (edges between pixels; 0,0 is the top left pixel's outer corner), so no box spans both lungs;
 * the crop box alone when the map is empty.
 */
export function lesionRegions(s: SliceResult, rowDirectionX: number): LesionRegion[] {
  const { cropBox: b, mapWidth: mw, mapHeight: mh, lesionMap } = s;
  const box = (c0: number, r0: number, c1: number, r1: number) => [c0, r0, c1, r0, c1, r1, c0, r1, c0, r0];
  let max = 0;
  for (const v of lesionMap) max = Math.max(max, v);
  if (max === 0 || mw === 0 || mh === 0) return [{ points: box(b.x, b.y, b.x + b.width, b.y + b.height) }];
  // Pixel bounds [c0, r0, c1, r1) per image half: 0 the image's left, 1 its right.
  const bounds = [0, 1].map(() => [Infinity, Infinity, -Infinity, -Infinity]);
  for (let r = b.y; r < b.y + b.height; r++) {
    const row = mapCell(r - b.y, b.height, mh) * mw;
    for (let c = b.x; c < b.x + b.width; c++) {
      const cell = mapCell(c - b.x, b.width, mw);
      if (lesionMap[row + cell] < max / 2) continue;
      const k = bounds[cell + 0.5 < mw / 2 ? 0 : 1];
      k[0] = Math.min(k[0], c);
      k[1] = Math.min(k[1], r);
      k[2] = Math.max(k[2], c + 1);
      k[3] = Math.max(k[3], r + 1);
    }
  }
  const { right, left } = patientSides(bounds[0], bounds[1], rowDirectionX);
  return [
    { k: right, side: 'right' as const },
    { k: left, side: 'left' as const },
  ]
    .filter(({ k }) => k[2] > k[0])
    .map(({ k, side }) => ({ points: box(k[0], k[1], k[2], k[3]), side }));
}

/** The most probable lesion type on a slice (index into Analysis.lesionTypes), or -1 when there are none. */
export function dominantLesionType(s: SliceResult): number {
  let best = -1;
  let p = -1;
  s.lesionTypeProbabilities.forEach((v, i) => {
    if (v > p) {
      p = v;
      best = i;
    }
  });
  return best;
}

/** PatientOrientation (0020,0020) letters for an image orientation (PS3.3 C.7.6.1.1.1), e.g. ["L","P"] for axial HFS. */
export function patientOrientation(iop: HuVolume['imageOrientationPatient']): [string, string] {
  const letters = (v: number[]): string => {
    const names: [number, string, string][] = [
      [v[0], 'L', 'R'],
      [v[1], 'P', 'A'],
      [v[2], 'H', 'F'],
    ];
    return names
      .filter(([c]) => Math.abs(c) > 0.25)
      .sort((a, b) => Math.abs(b[0]) - Math.abs(a[0]))
      .map(([c, pos, neg]) => (c > 0 ? pos : neg))
      .join('');
  };
  return [letters(iop.slice(0, 3)), letters(iop.slice(3, 6))];
}

/** Infected and lung volume of one region (mL), and the infected share of its lung (0..1). */
export interface RegionVolume {
  infectedMl: number;
  lungMl: number;
  fraction: number;
}

/** Infected volume per lung and per zone (upper / middle / lower third of the lungs' craniocaudal extent). */
export type InfectionByRegion = {
  right: RegionVolume;
  left: RegionVolume;
  upper: RegionVolume;
  middle: RegionVolume;
  lower: RegionVolume;
};

/**
 * Per lung and per zone (models 2.0 evidence; undefined without it). Sides as in lesionMass (the image's left half
 * is the patient's right when the row vector points to +x); zones split the slices with lung into thirds along the
 * slice normal, upper being the highest positions (towards the head in an axial HFS/FFS stack, whose normal is +z).
 */
export function infectionByRegion(a: Analysis, v: Pick<HuVolume, 'sources' | 'sliceSpacing' | 'imageOrientationPatient'>): InfectionByRegion | undefined {
  if (!hasInfectionEvidence(a)) return undefined;
  const thick = sliceThicknesses(
    v.sources.map((s) => s.position),
    v.sliceSpacing,
  );
  const region = (): RegionVolume => ({ infectedMl: 0, lungMl: 0, fraction: 0 });
  const out: InfectionByRegion = { right: region(), left: region(), upper: region(), middle: region(), lower: region() };
  const lung = lungSlices(a);
  if (lung.length === 0) return out;
  const lo = Math.min(...lung.map((s) => v.sources[s.index].position));
  const hi = Math.max(...lung.map((s) => v.sources[s.index].position));
  // The region each image half adds to (the side mapping is a swap, so it maps back the same way).
  const { right: imageLeft, left: imageRight } = patientSides(out.right, out.left, v.imageOrientationPatient[0]);
  for (const s of lung) {
    const t = thick[s.index] / 1000;
    imageLeft.infectedMl += s.imageLeftInfectedAreaMm2 * t;
    imageLeft.lungMl += s.imageLeftLungAreaMm2 * t;
    imageRight.infectedMl += (s.infectedAreaMm2 - s.imageLeftInfectedAreaMm2) * t;
    imageRight.lungMl += (s.lungAreaMm2 - s.imageLeftLungAreaMm2) * t;
    const f = hi > lo ? (v.sources[s.index].position - lo) / (hi - lo) : 0.5;
    const z = f >= 2 / 3 ? out.upper : f >= 1 / 3 ? out.middle : out.lower;
    z.infectedMl += s.infectedAreaMm2 * t;
    z.lungMl += s.lungAreaMm2 * t;
  }
  for (const r of Object.values(out)) r.fraction = r.lungMl > 0 ? r.infectedMl / r.lungMl : 0;
  return out;
}

/**
 * Share of slices with lung below which a series is not a chest CT for this model: a chest CT shows lung on most of
 * its slices (the thorax series: 79%), a chest-abdomen-pelvis CT on about a third, a head, neck or abdomen CT on few
 * or none. The study then gets a "not applicable" report, no finding and nothing drawn.
 */
export const MIN_LUNG_SLICE_SHARE = 0.25;

/** Why the analysis does not apply to the series (lung on too few slices), or undefined when it does. */
export function notApplicableReason(a: Analysis, minShare = MIN_LUNG_SLICE_SHARE): string | undefined {
  if (!hasInfectionEvidence(a) || a.slices.length === 0) return undefined;
  const share = lungSlices(a).length / a.slices.length;
  if (share >= minShare) return undefined;
  return `not applicable: lung found on ${(share * 100).toFixed(0)}% of the slices (a chest CT shows it on at least ${(minShare * 100).toFixed(0)}%), so the series is not a chest CT this model can triage`;
}
