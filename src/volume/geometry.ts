/**
 * Pure geometry of a stack of slices: order along the slice normal (PS3.3 C.7.6.2.1.1: the normal is the cross product
 * of the row and column direction cosines; a slice's position along it is ImagePositionPatient . normal), spacing,
 * duplicates, gaps, gantry tilt and consistency checks. No I/O; shared by series selection and volume assembly.
 */
import type { InstanceHeader } from '../dicom/instance-header';

/** The geometry of one slice (one frame of an instance). */
export interface StackSlice {
  /** Identifies the slice's source so duplicates of the same instance can be told from distinct slices. */
  sopInstanceUid: string;
  frameNumber: number;
  rows: number;
  columns: number;
  imagePositionPatient?: readonly number[];
  imageOrientationPatient?: readonly number[];
  pixelSpacing?: readonly number[];
}

/** Tolerances of the stack checks. */
export interface StackTolerances {
  /** Largest angle between any slice's row/column directions and the first slice's (degrees). */
  orientationDeg: number;
  /** Positions closer than this (mm) are the same position. */
  duplicateMm: number;
  /** Relative deviation of a step from the median step above which spacing is reported uneven. */
  unevenSpacing: number;
  /** A step larger than this many median steps is a gap (missing slices). */
  gapFactor: number;
  /** Angle between the stack direction and the slice normal above which a tilt/shear warning is given (degrees). */
  tiltWarnDeg: number;
  /** Relative difference of pixel spacing between slices that counts as mixed. */
  pixelSpacing: number;
}

/** Defaults for StackTolerances. */
export const DEFAULT_STACK_TOLERANCES: StackTolerances = {
  orientationDeg: 1,
  duplicateMm: 0.01,
  unevenSpacing: 0.1,
  gapFactor: 1.5,
  tiltWarnDeg: 0.5,
  pixelSpacing: 0.001,
};

/** A consistent stack, sorted ascending along the normal. */
export interface StackGeometry {
  ok: true;
  /** Indices into the input, ascending by position; duplicates of the same instance removed. */
  order: number[];
  /** Position of each slice of `order` along the normal (mm), ascending. */
  positions: number[];
  normal: [number, number, number];
  imageOrientationPatient: [number, number, number, number, number, number];
  pixelSpacing: [number, number];
  rows: number;
  columns: number;
  /** Mean distance between consecutive slice centres (mm); 0 for a single slice. */
  meanSpacing: number;
  medianSpacing: number;
  /** Angle between the slice normal and the patient's head-feet (z) axis, degrees. */
  obliquityDeg: number;
  /** Angle between the line through the slice origins and the slice normal (gantry tilt or shear), degrees. */
  tiltDeg: number;
  warnings: string[];
}

/** Why a stack is not one consistent volume. */
export interface StackProblem {
  ok: false;
  error: string;
}

const fmt = (x: number, d = 2) => Number(x.toFixed(d)).toString();
const dot = (a: readonly number[], b: readonly number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const norm = (a: readonly number[]) => Math.sqrt(dot(a, a));
const cross = (a: readonly number[], b: readonly number[]): [number, number, number] => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
const deg = (cos: number) => (Math.acos(Math.max(-1, Math.min(1, cos))) * 180) / Math.PI;

/** The slice normal of an orientation, or a problem when the cosines are not two orthogonal unit vectors. */
export function sliceNormal(iop: readonly number[]): [number, number, number] | string {
  const r = iop.slice(0, 3);
  const c = iop.slice(3, 6);
  const nr = norm(r);
  const nc = norm(c);
  if (Math.abs(nr - 1) > 0.01 || Math.abs(nc - 1) > 0.01) return `ImageOrientationPatient [${iop.join(', ')}] is not made of unit vectors`;
  if (Math.abs(dot(r, c) / (nr * nc)) > 0.01) return `ImageOrientationPatient [${iop.join(', ')}] has non-orthogonal row and column directions`;
  const n = cross(r, c);
  const l = norm(n);
  return [n[0] / l, n[1] / l, n[2] / l];
}

/** Angle between the normal of an orientation and the patient z axis, degrees (0 = axial). */
export function obliquityDeg(iop: readonly number[]): number | undefined {
  const n = sliceNormal(iop);
  return typeof n === 'string' ? undefined : deg(Math.abs(n[2]));
}

/** Checks a stack of slices and sorts it along the slice normal; never by file order or Instance Number. */
export function analyzeStack(slices: readonly StackSlice[], tol: StackTolerances = DEFAULT_STACK_TOLERANCES): StackGeometry | StackProblem {
  const fail = (error: string): StackProblem => ({ ok: false, error });
  if (slices.length === 0) return fail('no slices');
  const warnings: string[] = [];
  for (let i = 0; i < slices.length; i++) {
    const s = slices[i];
    const where = `${s.sopInstanceUid ? 'instance ' + s.sopInstanceUid : 'slice ' + i}${s.frameNumber > 1 ? ' frame ' + s.frameNumber : ''}`;
    if (!s.imagePositionPatient) return fail(`missing Image Position (Patient) (0020,0032) on ${where}`);
    if (!s.imageOrientationPatient) return fail(`missing Image Orientation (Patient) (0020,0037) on ${where}`);
    if (!s.pixelSpacing) return fail(`missing Pixel Spacing (0028,0030) on ${where}`);
    if (!(s.pixelSpacing[0] > 0 && s.pixelSpacing[1] > 0)) return fail(`invalid Pixel Spacing [${s.pixelSpacing.join(', ')}] on ${where}`);
  }
  // Sizes.
  const sizes = new Map<string, number>();
  for (const s of slices) sizes.set(`${s.rows}x${s.columns}`, (sizes.get(`${s.rows}x${s.columns}`) ?? 0) + 1);
  if (sizes.size > 1) {
    return fail(`mixed image sizes (rows x columns): ${[...sizes].map(([k, n]) => `${k} (${n} slices)`).join(', ')}`);
  }
  // Orientation.
  const iop0 = slices[0].imageOrientationPatient!;
  const normal = sliceNormal(iop0);
  if (typeof normal === 'string') return fail(normal);
  const cosTol = Math.cos((tol.orientationDeg * Math.PI) / 180);
  for (const s of slices) {
    const o = s.imageOrientationPatient!;
    const a = dot(o.slice(0, 3), iop0.slice(0, 3)) / (norm(o.slice(0, 3)) * norm(iop0.slice(0, 3)));
    const b = dot(o.slice(3, 6), iop0.slice(3, 6)) / (norm(o.slice(3, 6)) * norm(iop0.slice(3, 6)));
    if (!(a >= cosTol && b >= cosTol)) {
      return fail(`mixed orientations: [${o.map((x) => fmt(x, 4)).join(', ')}] differs from [${iop0.map((x) => fmt(x, 4)).join(', ')}] by ${fmt(Math.max(deg(a), deg(b)), 1)} degrees (tolerance ${tol.orientationDeg})`);
    }
  }
  // Pixel spacing.
  const ps0 = slices[0].pixelSpacing!;
  for (const s of slices) {
    const ps = s.pixelSpacing!;
    if (Math.abs(ps[0] - ps0[0]) > tol.pixelSpacing * ps0[0] || Math.abs(ps[1] - ps0[1]) > tol.pixelSpacing * ps0[1]) {
      return fail(`mixed pixel spacing: [${ps.join(', ')}] and [${ps0.join(', ')}] mm`);
    }
  }
  // Sort along the normal; ties broken by input index so the result is deterministic.
  const pos = slices.map((s) => dot(s.imagePositionPatient!, normal));
  let order = slices.map((_, i) => i).sort((i, j) => pos[i] - pos[j] || i - j);
  // Duplicates: the same instance received twice is dropped; distinct slices at one position are an error.
  const kept: number[] = [];
  let dupSame = 0;
  const clashes: number[] = [];
  for (const i of order) {
    const prev = kept[kept.length - 1];
    if (prev !== undefined && Math.abs(pos[i] - pos[prev]) < tol.duplicateMm) {
      const a = slices[i];
      const b = slices[prev];
      if (a.sopInstanceUid && a.sopInstanceUid === b.sopInstanceUid && a.frameNumber === b.frameNumber) {
        dupSame++;
        continue;
      }
      clashes.push(pos[i]);
      continue;
    }
    kept.push(i);
  }
  if (clashes.length) {
    return fail(
      `duplicate slice positions: ${clashes.length} slice(s) share a position with another slice (first at ${fmt(clashes[0])} mm along the normal): overlapping acquisitions or duplicated images`,
    );
  }
  if (dupSame) warnings.push(`${dupSame} duplicate copies of the same instance ignored`);
  order = kept;
  const positions = order.map((i) => pos[i]);
  const steps = positions.slice(1).map((p, k) => p - positions[k]);
  const sorted = [...steps].sort((a, b) => a - b);
  const median = sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
  const mean = steps.length ? (positions[positions.length - 1] - positions[0]) / steps.length : 0;
  if (steps.length) {
    const gaps = steps.map((d, k) => ({ d, k })).filter(({ d }) => d > tol.gapFactor * median);
    if (gaps.length) {
      const missing = gaps.reduce((n, g) => n + Math.max(1, Math.round(g.d / median) - 1), 0);
      const g = gaps[0];
      warnings.push(
        `gap: about ${missing} missing slice(s) in ${gaps.length} place(s); first between ${fmt(positions[g.k])} and ${fmt(positions[g.k + 1])} mm (step ${fmt(g.d)} mm, median ${fmt(median)} mm)`,
      );
    }
    const uneven = steps.filter((d) => d <= tol.gapFactor * median && Math.abs(d - median) > Math.max(0.01, tol.unevenSpacing * median));
    if (uneven.length) {
      warnings.push(`uneven slice spacing: ${uneven.length} step(s) differ from the median ${fmt(median)} mm by more than ${fmt(tol.unevenSpacing * 100, 0)}% (range ${fmt(sorted[0])} to ${fmt(sorted[sorted.length - 1])} mm)`);
    }
  }
  // Tilt / shear: the slice origins should move along the normal; any in-plane drift is gantry tilt or a sheared stack.
  let tiltDeg = 0;
  if (order.length > 1) {
    const a = slices[order[0]].imagePositionPatient!;
    const b = slices[order[order.length - 1]].imagePositionPatient!;
    const d = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    const l = norm(d);
    if (l > 0) tiltDeg = deg(Math.abs(dot(d, normal)) / l);
    // Every origin should lie on the line through the first and last (a straight stack).
    const along = positions[positions.length - 1] - positions[0];
    const maxDev = Math.max(ps0[0], ps0[1]);
    for (let k = 1; k < order.length - 1 && along > 0; k++) {
      const t = (positions[k] - positions[0]) / along;
      const p = slices[order[k]].imagePositionPatient!;
      const dev = Math.sqrt((p[0] - (a[0] + t * d[0])) ** 2 + (p[1] - (a[1] + t * d[1])) ** 2 + (p[2] - (a[2] + t * d[2])) ** 2);
      if (dev > maxDev) {
        return fail(`inconsistent geometry: the origin of the slice at ${fmt(positions[k])} mm lies ${fmt(dev)} mm off the line through the other slice origins (more than one pixel)`);
      }
    }
    if (tiltDeg > tol.tiltWarnDeg) {
      warnings.push(`gantry tilt or sheared stack: slice origins advance ${fmt(tiltDeg, 1)} degrees off the slice normal; voxels are kept on the acquired (sheared) grid, not resampled`);
    }
  }
  const obl = deg(Math.abs(normal[2]));
  return {
    ok: true,
    order,
    positions,
    normal,
    imageOrientationPatient: iop0.slice(0, 6) as StackGeometry['imageOrientationPatient'],
    pixelSpacing: [ps0[0], ps0[1]],
    rows: slices[0].rows,
    columns: slices[0].columns,
    meanSpacing: mean,
    medianSpacing: median,
    obliquityDeg: obl,
    tiltDeg,
    warnings,
  };
}

/** The frames of an instance as slices of a stack, in frame order (what analyzeStack checks). */
export function stackSlices(h: InstanceHeader): StackSlice[] {
  return h.frames.map((f) => ({
    sopInstanceUid: h.sopInstanceUid,
    frameNumber: f.frameNumber,
    rows: h.rows,
    columns: h.columns,
    imagePositionPatient: f.imagePositionPatient,
    imageOrientationPatient: f.imageOrientationPatient,
    pixelSpacing: f.pixelSpacing,
  }));
}
