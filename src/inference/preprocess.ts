/**
 * Slice preprocessing, identical to training (models/training/preprocess.py, spec models/PREPROCESSING.md):
 * lung crop box (threshold, binary opening, 8-connected components, size and border rules, margin), bilinear
 * resize with half-pixel centres of the crop, then one window per manifest window mapped to the network range,
 * copied into 3 identical channels. Arithmetic is float64 in the same order as the numpy reference, so results
 * agree with the golden vectors far below 1e-4. Pure functions; no allocation beyond the outputs.
 */
import type { Preprocessing } from './manifest';

/** Crop box in slice pixels, inclusive-exclusive: rows y0..y1-1, columns x0..x1-1. */
export interface Box {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

/** One preprocessed slice: the crop resized to size x size (HU, float64), where the crop lies, and the lung mask. */
export interface PreparedSlice {
  resized: Float64Array;
  box: Box;
  /** 1 where the slice pixel is lung (full slice, row-major). */
  lung: Uint8Array;
  /** Lung pixels on the slice (0: no lung; the crop is then the whole slice). */
  lungPixels: number;
}

/**
 * The mask `hu < thresholdHu` after `iterations` binary openings (3x3 square erosion, then dilation; pixels outside
 * the image count as background), as one byte per pixel. Computed on rows packed 32 pixels to a word: each 3x3 pass
 * is a few word operations per 32 pixels instead of per pixel (this was most of the preprocessing time).
 */
export function openedMask(hu: ArrayLike<number>, h: number, w: number, thresholdHu: number, iterations: number): Uint8Array {
  const words = (w + 31) >>> 5;
  const lastMask = (w & 31) === 0 ? -1 : (1 << (w & 31)) - 1;
  const a = new Int32Array(h * words);
  for (let y = 0; y < h; y++) {
    const r = y * w;
    for (let i = 0; i < words; i++) {
      const x0 = i << 5;
      const n = Math.min(32, w - x0);
      let bits = 0;
      for (let b = 0; b < n; b++) if (hu[r + x0 + b] < thresholdHu) bits |= 1 << b;
      a[y * words + i] = bits;
    }
  }
  const t = new Int32Array(h * words);
  for (let k = 0; k < iterations; k++) {
    rowPass(a, t, h, words, lastMask, true);
    columnPass(t, a, h, words, true);
    rowPass(a, t, h, words, lastMask, false);
    columnPass(t, a, h, words, false);
  }
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const r = y * w;
    for (let i = 0; i < words; i++) {
      const bits = a[y * words + i];
      if (bits === 0) continue; // nothing set here (tissue): the output is already 0
      const x0 = i << 5;
      const n = Math.min(32, w - x0);
      for (let b = 0; b < n; b++) out[r + x0 + b] = (bits >>> b) & 1;
    }
  }
  return out;
}

/** 1x3 erosion or dilation along rows; bit x of a word is pixel x, so a pixel's left neighbour is the bit below. */
function rowPass(src: Int32Array, dst: Int32Array, h: number, words: number, lastMask: number, erode: boolean): void {
  for (let y = 0; y < h; y++) {
    const o = y * words;
    for (let i = 0; i < words; i++) {
      const v = src[o + i];
      const left = (v << 1) | (i > 0 ? src[o + i - 1] >>> 31 : 0);
      const right = (v >>> 1) | (i < words - 1 ? src[o + i + 1] << 31 : 0);
      dst[o + i] = erode ? v & left & right : v | left | right;
    }
    dst[o + words - 1] &= lastMask; // nothing beyond the last column
  }
}

/** 3x1 erosion or dilation along columns, whole words at a time; rows outside the image are background. */
function columnPass(src: Int32Array, dst: Int32Array, h: number, words: number, erode: boolean): void {
  for (let y = 0; y < h; y++) {
    const o = y * words;
    for (let i = 0; i < words; i++) {
      const up = y > 0 ? src[o - words + i] : 0;
      const down = y < h - 1 ? src[o + words + i] : 0;
      const v = src[o + i];
      dst[o + i] = erode ? up & v & down : up | v | down;
    }
  }
}

/** Horizontal runs of 1s in a binary mask, row by row (start inclusive, end exclusive). */
function runsOf(m: Uint8Array, h: number, w: number): { count: number; row: Int32Array; start: Int32Array; end: Int32Array; rowStart: Int32Array } {
  let cap = 1024;
  let row = new Int32Array(cap);
  let start = new Int32Array(cap);
  let end = new Int32Array(cap);
  const rowStart = new Int32Array(h + 1);
  let n = 0;
  for (let y = 0; y < h; y++) {
    rowStart[y] = n;
    const r = y * w;
    let x = 0;
    while (x < w) {
      while (x < w && !m[r + x]) x++;
      if (x >= w) break;
      const s0 = x;
      while (x < w && m[r + x]) x++;
      if (n === cap) {
        cap *= 2;
        const grow = (a: Int32Array) => {
          const b = new Int32Array(cap);
          b.set(a);
          return b;
        };
        row = grow(row);
        start = grow(start);
        end = grow(end);
      }
      row[n] = y;
      start[n] = s0;
      end[n] = x;
      n++;
    }
  }
  rowStart[h] = n;
  return { count: n, row, start, end, rowStart };
}

/**
 * Lung mask and its bounding box with margin (preprocess.py lung_mask, crop_box): pixels below thresholdHu, opened,
 * 8-connected components of at least minComponentFraction of the image that do not touch the border (air around
 * the patient) and whose mean HU is at least minMeanHu (pure air: trachea, bowel gas); the box is the whole image
 * when no component is kept or it is smaller than minBoxFraction of the image.
 */
export function lungMaskAndBox(hu: ArrayLike<number>, h: number, w: number, c: Preprocessing['crop']): { box: Box; lung: Uint8Array; lungPixels: number } {
  const full: Box = { y0: 0, y1: h, x0: 0, x1: w };
  const m = openedMask(hu, h, w, c.thresholdHu, c.openingIterations);

  // 8-connected components over runs of foreground pixels (union-find on runs): per component the area, whether
  // it touches the border, and its bounding box. Same components as any pixel labelling.
  const runs = runsOf(m, h, w);
  const n = runs.count;
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  // Runs of row y occupy runs.rowStart[y] .. runs.rowStart[y+1]-1, sorted by start.
  for (let y = 1; y < h; y++) {
    let j = runs.rowStart[y - 1];
    const jEnd = runs.rowStart[y];
    for (let i = runs.rowStart[y]; i < runs.rowStart[y + 1]; i++) {
      const s0 = runs.start[i];
      const e0 = runs.end[i]; // exclusive
      // 8-connectivity: a run in the row above touches [s0-1, e0] (inclusive).
      while (j < jEnd && runs.end[j] < s0) j++; // runs.end[j] - 1 < s0 - 1
      for (let k = j; k < jEnd && runs.start[k] <= e0; k++) {
        const a = find(i);
        const b = find(k);
        if (a !== b) parent[a < b ? b : a] = a < b ? a : b;
      }
    }
  }
  const area = new Float64Array(n);
  const huSum = new Float64Array(n);
  const border = new Uint8Array(n);
  const by0 = new Int32Array(n).fill(h);
  const by1 = new Int32Array(n).fill(-1);
  const bx0 = new Int32Array(n).fill(w);
  const bx1 = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const r = find(i);
    const y = runs.row[i];
    area[r] += runs.end[i] - runs.start[i];
    for (let x = runs.start[i], o = y * w; x < runs.end[i]; x++) huSum[r] += hu[o + x];
    if (y === 0 || y === h - 1 || runs.start[i] === 0 || runs.end[i] === w) border[r] = 1;
    if (y < by0[r]) by0[r] = y;
    if (y > by1[r]) by1[r] = y;
    if (runs.start[i] < bx0[r]) bx0[r] = runs.start[i];
    if (runs.end[i] - 1 > bx1[r]) bx1[r] = runs.end[i] - 1;
  }
  const minArea = c.minComponentFraction * h * w;
  let ky0 = h;
  let ky1 = -1;
  let kx0 = w;
  let kx1 = -1;
  const kept = new Uint8Array(n);
  for (let r = 0; r < n; r++) {
    if (parent[r] !== r) continue;
    if (area[r] < minArea || (c.dropBorderComponents && border[r]) || huSum[r] < c.minMeanHu * area[r]) continue;
    kept[r] = 1;
    if (by0[r] < ky0) ky0 = by0[r];
    if (by1[r] > ky1) ky1 = by1[r];
    if (bx0[r] < kx0) kx0 = bx0[r];
    if (bx1[r] > kx1) kx1 = bx1[r];
  }
  const lung = new Uint8Array(h * w);
  for (let i = 0; i < n; i++) if (kept[find(i)]) lung.fill(1, runs.row[i] * w + runs.start[i], runs.row[i] * w + runs.end[i]);
  const lungPixels = ky1 < 0 ? 0 : fillHoles(lung, h, w);
  if (ky1 < 0) return { box: full, lung, lungPixels };
  const mg = Math.floor(c.marginFraction * Math.max(h, w));
  const box: Box = {
    y0: Math.max(0, ky0 - mg),
    y1: Math.min(h, ky1 + 1 + mg),
    x0: Math.max(0, kx0 - mg),
    x1: Math.min(w, kx1 + 1 + mg),
  };
  if ((box.y1 - box.y0) * (box.x1 - box.x0) < c.minBoxFraction * h * w) return { box: full, lung, lungPixels };
  return { box, lung, lungPixels };
}

/**
 * Fills, in place, every region of 0s that does not reach the image border (4-connected): vessels, nodules and
 * enclosed infection inside the lung count as lung (preprocess.py fill_holes). Returns the 1s afterwards.
 */
function fillHoles(m: Uint8Array, h: number, w: number): number {
  const OUTSIDE = 2;
  const stack = new Int32Array(h * w);
  let top = 0;
  const push = (i: number) => {
    if (m[i] === 0) {
      m[i] = OUTSIDE;
      stack[top++] = i;
    }
  };
  for (let x = 0; x < w; x++) {
    push(x);
    push((h - 1) * w + x);
  }
  for (let y = 0; y < h; y++) {
    push(y * w);
    push(y * w + w - 1);
  }
  while (top > 0) {
    const i = stack[--top];
    const x = i % w;
    if (x > 0) push(i - 1);
    if (x < w - 1) push(i + 1);
    if (i >= w) push(i - w);
    if (i < (h - 1) * w) push(i + w);
  }
  let count = 0;
  for (let i = 0; i < m.length; i++) {
    m[i] = m[i] === OUTSIDE ? 0 : 1;
    count += m[i];
  }
  return count;
}

/** The lung crop box alone (see lungMaskAndBox). */
export function cropBox(hu: ArrayLike<number>, h: number, w: number, c: Preprocessing['crop']): Box {
  return lungMaskAndBox(hu, h, w, c).box;
}

/** Source indices and weights along one axis: bilinear, half-pixel centres, clamped, no antialias. */
function axis(nIn: number, nOut: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const i0 = new Int32Array(nOut);
  const i1 = new Int32Array(nOut);
  const f = new Float64Array(nOut);
  const ratio = nIn / nOut;
  for (let i = 0; i < nOut; i++) {
    let s = (i + 0.5) * ratio - 0.5;
    if (s < 0) s = 0;
    else if (s > nIn - 1) s = nIn - 1;
    const a = Math.floor(s);
    i0[i] = a;
    i1[i] = Math.min(a + 1, nIn - 1);
    f[i] = s - a;
  }
  return { i0, i1, f };
}

/** Bilinear resize (preprocess.py resize_bilinear) of the box region of an h x w image (row stride w) to oh x ow. */
export function resizeBilinear(src: ArrayLike<number>, w: number, box: Box, oh: number, ow: number): Float64Array {
  const ay = axis(box.y1 - box.y0, oh);
  const ax = axis(box.x1 - box.x0, ow);
  const out = new Float64Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    const r0 = (box.y0 + ay.i0[i]) * w + box.x0;
    const r1 = (box.y0 + ay.i1[i]) * w + box.x0;
    const fy = ay.f[i];
    const gy = 1 - fy;
    for (let j = 0; j < ow; j++) {
      const x0 = ax.i0[j];
      const x1 = ax.i1[j];
      const fx = ax.f[j];
      const gx = 1 - fx;
      const top = src[r0 + x0] * gx + src[r0 + x1] * fx;
      const bot = src[r1 + x0] * gx + src[r1 + x1] * fx;
      out[i * ow + j] = top * gy + bot * fy;
    }
  }
  return out;
}

/** Crop and resize one HU slice (rows x columns, row-major). */
export function prepareSlice(hu: ArrayLike<number>, rows: number, columns: number, p: Preprocessing): PreparedSlice {
  const { box, lung, lungPixels } = lungMaskAndBox(hu, rows, columns, p.crop);
  return { resized: resizeBilinear(hu, columns, box, p.size, p.size), box, lung, lungPixels };
}

/**
 * Writes one window of a prepared slice into a network input tensor at `offset` (3 identical channels of
 * size x size): clip((hu - (center - width/2)) / width, 0, 1) * scale + offset, stored as float32.
 */
export function writeWindow(
  resized: Float64Array,
  win: { center: number; width: number },
  norm: { scale: number; offset: number },
  dest: Float32Array,
  offset: number,
): void {
  const n = resized.length;
  const lo = win.center - win.width / 2;
  for (let i = 0; i < n; i++) {
    let v = (resized[i] - lo) / win.width;
    if (v < 0) v = 0;
    else if (v > 1) v = 1;
    dest[offset + i] = v * norm.scale + norm.offset;
  }
  dest.copyWithin(offset + n, offset, offset + n);
  dest.copyWithin(offset + 2 * n, offset, offset + n);
}
