/**
 * Stored pixel words to Hounsfield units: mask to Bits Stored and sign-extend (PS3.5 8.1.1, PS3.3 C.7.6.3.1),
 * map pixel padding (PS3.3 C.7.5.1.1.2), apply Rescale Slope/Intercept (PS3.3 C.11.1.1.2) and clamp to int16.
 */
import type { StoredSamples } from './decode';

/** How stored values map to HU for one frame. */
export interface HuMapping {
  bitsStored: number;
  highBit: number;
  /** 1 = two's complement. */
  pixelRepresentation: number;
  slope: number;
  intercept: number;
  /** Stored value(s) marking padding (outside the reconstruction circle); with a range limit, a closed range. */
  paddingValue?: number;
  paddingRangeLimit?: number;
  /** HU written for padding pixels. */
  paddingHu: number;
}

/** Counts of what a conversion changed, for warnings. */
export interface HuStats {
  clamped: number;
  padded: number;
}

/**
 * Writes one frame of HU into out[offset .. offset + samples.length). Returns how many voxels were clamped to the
 * int16 range and how many were padding.
 */
export function storeHu(samples: StoredSamples, m: HuMapping, out: Int16Array, offset: number): HuStats {
  const n = samples.length;
  const shift = m.highBit + 1 - m.bitsStored;
  const bits = m.bitsStored;
  const signed = m.pixelRepresentation === 1;
  const mask = bits >= 32 ? 0xffffffff : 2 ** bits - 1;
  const signBit = 2 ** (bits - 1);
  const full = 2 ** bits;
  const { slope, intercept, paddingHu } = m;
  let lo = Infinity;
  let hi = -Infinity;
  if (m.paddingValue !== undefined) {
    lo = m.paddingRangeLimit === undefined ? m.paddingValue : Math.min(m.paddingValue, m.paddingRangeLimit);
    hi = m.paddingRangeLimit === undefined ? m.paddingValue : Math.max(m.paddingValue, m.paddingRangeLimit);
  }
  const hasPad = lo <= hi;
  let clamped = 0;
  let padded = 0;
  // Fast path: the common 16-bit case without shifts, with an integral intercept and unit slope.
  if (samples instanceof Uint16Array && shift === 0 && bits <= 16 && slope === 1 && Number.isInteger(intercept)) {
    const mask16 = mask;
    for (let i = 0; i < n; i++) {
      let v = samples[i] & mask16;
      if (signed && v >= signBit) v -= full;
      if (hasPad && v >= lo && v <= hi) {
        out[offset + i] = paddingHu;
        padded++;
        continue;
      }
      let h = v + intercept;
      if (h > 32767) {
        h = 32767;
        clamped++;
      } else if (h < -32768) {
        h = -32768;
        clamped++;
      }
      out[offset + i] = h;
    }
    return { clamped, padded };
  }
  for (let i = 0; i < n; i++) {
    let v = bits >= 32 ? samples[i] : Math.floor(samples[i] / 2 ** shift) % (mask + 1);
    if (bits < 32 ? false : signed) v = v | 0;
    else if (signed && v >= signBit) v -= full;
    if (hasPad && v >= lo && v <= hi) {
      out[offset + i] = paddingHu;
      padded++;
      continue;
    }
    let h = Math.round(v * slope + intercept);
    if (h > 32767) {
      h = 32767;
      clamped++;
    } else if (h < -32768) {
      h = -32768;
      clamped++;
    }
    out[offset + i] = h;
  }
  return { clamped, padded };
}
