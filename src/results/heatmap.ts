import type { SliceResult } from '../inference/types';
import type { HuVolume } from '../volume/types';
import { drawText, fillRect, textWidth, CELL_H, type RgbImage } from './font';

/** Lung window used for the CT underlay (PS3.3 C.11.2.1.2: centre -600 HU, width 1500 HU). */
export const LUNG_WINDOW = { center: -600, width: 1500 } as const;
/** Lesion-map values below this share of full scale are not drawn (keeps normal lung readable). */
export const MAP_FLOOR = 0.15;
/** Text burned into every heat map. */
export const DISCLAIMER = 'AI RESULT, NOT FOR DIAGNOSTIC USE';
/** The smallest side a heat map is rendered at, so burned-in text stays legible on small matrices. */
const MIN_SIDE = 512;

const STOPS: [number, [number, number, number]][] = [
  [0, [0, 0, 255]],
  [0.25, [0, 255, 255]],
  [0.5, [0, 255, 0]],
  [0.75, [255, 255, 0]],
  [1, [255, 0, 0]],
];

/** The colour scale: blue (low) through cyan, green, yellow to red (high); v in 0..1. */
export function colormap(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, v));
  for (let i = 1; i < STOPS.length; i++) {
    const [t1, c1] = STOPS[i];
    const [t0, c0] = STOPS[i - 1];
    if (t <= t1) {
      const f = (t - t0) / (t1 - t0);
      return [0, 1, 2].map((k) => Math.round(c0[k] + (c1[k] - c0[k]) * f)) as [number, number, number];
    }
  }
  return STOPS[STOPS.length - 1][1];
}

/** Blend weight of the overlay for a map value (0 below the floor). */
export function overlayAlpha(v: number): number {
  return v < MAP_FLOOR ? 0 : 0.3 + 0.4 * v;
}

/** The lesion map value (0..1) at slice pixel (x, y), bilinear over the map placed on its crop box. */
export function mapValueAt(s: SliceResult, x: number, y: number): number {
  const { cropBox: b, mapWidth: mw, mapHeight: mh, lesionMap } = s;
  if (x < b.x || y < b.y || x >= b.x + b.width || y >= b.y + b.height || mw === 0 || mh === 0) return 0;
  const fx = Math.min(mw - 1, Math.max(0, ((x - b.x + 0.5) / b.width) * mw - 0.5));
  const fy = Math.min(mh - 1, Math.max(0, ((y - b.y + 0.5) / b.height) * mh - 0.5));
  const x0 = Math.floor(fx);
  const y0 = Math.floor(fy);
  const x1 = Math.min(mw - 1, x0 + 1);
  const y1 = Math.min(mh - 1, y0 + 1);
  const ax = fx - x0;
  const ay = fy - y0;
  const v =
    lesionMap[y0 * mw + x0] * (1 - ax) * (1 - ay) +
    lesionMap[y0 * mw + x1] * ax * (1 - ay) +
    lesionMap[y1 * mw + x0] * (1 - ax) * ay +
    lesionMap[y1 * mw + x1] * ax * ay;
  return v / 255;
}

/**
 * How a person finds a volume slice in the viewer: the source image's Instance Number and its position along the
 * slice normal (mm), e.g. "image 126 at 87.5 mm"; the volume position alone when the source has no Instance Number.
 */
export function sliceLabel(volume: Pick<HuVolume, 'sources'>, index: number): string {
  const src = volume.sources[index];
  const at = `${src.position.toFixed(1)} mm`;
  return src.instanceNumber !== undefined ? `image ${src.instanceNumber} at ${at}` : `slice at ${at}`;
}

/** Where the output pixel grid lies: the scale from slice pixels to heat-map pixels. */
export function heatMapScale(volume: Pick<HuVolume, 'rows' | 'columns'>): number {
  return Math.max(1, Math.ceil(MIN_SIDE / Math.max(volume.rows, volume.columns)));
}

/**
 * Renders one heat map: the CT slice in lung window, the lesion map blended over it in colour, a colour legend,
 * the slice's lesion probability and the disclaimer burned in. Output is interleaved RGB at an integer multiple
 * of the slice matrix (so a pixel maps back to the source image exactly).
 */
export function renderHeatMap(volume: HuVolume, slice: SliceResult, label: { keyIndex: number; keyCount: number }): RgbImage {
  const f = heatMapScale(volume);
  const width = volume.columns * f;
  const height = volume.rows * f;
  const img: RgbImage = { width, height, data: new Uint8Array(width * height * 3) };
  const lo = LUNG_WINDOW.center - LUNG_WINDOW.width / 2;
  const base = slice.index * volume.rows * volume.columns;
  // Map values per source pixel once (bilinear at the source pixel centre), then replicate to the f x f block.
  for (let r = 0; r < volume.rows; r++) {
    for (let c = 0; c < volume.columns; c++) {
      const hu = volume.hu[base + r * volume.columns + c];
      const g = Math.min(255, Math.max(0, Math.round(((hu - lo) / LUNG_WINDOW.width) * 255)));
      const v = mapValueAt(slice, c, r);
      const a = overlayAlpha(v);
      let rgb: [number, number, number] = [g, g, g];
      if (a > 0) {
        const col = colormap(v);
        rgb = [0, 1, 2].map((k) => Math.round(g * (1 - a) + col[k] * a)) as [number, number, number];
      }
      for (let dy = 0; dy < f; dy++) {
        let o = ((r * f + dy) * width + c * f) * 3;
        for (let dx = 0; dx < f; dx++, o += 3) {
          img.data[o] = rgb[0];
          img.data[o + 1] = rgb[1];
          img.data[o + 2] = rgb[2];
        }
      }
    }
  }
  const s = Math.max(1, Math.floor(width / 256));
  const pad = 4 * s;
  // Legend: a vertical colour bar at the right, 1.0 at the top, the floor at the bottom.
  const barW = 8 * s;
  const barH = Math.round(height * 0.35);
  const barX = width - pad - barW - textWidth(MAP_FLOOR.toFixed(2), s) - pad;
  const barY = Math.round(height * 0.3);
  fillRect(img, barX - s, barY - s, barW + 2 * s, barH + 2 * s, [255, 255, 255]);
  for (let y = 0; y < barH; y++) {
    const v = 1 - (y / (barH - 1)) * (1 - MAP_FLOOR);
    fillRect(img, barX, barY + y, barW, 1, colormap(v));
  }
  drawText(img, '1.0', barX + barW + pad, barY - s, s);
  drawText(img, MAP_FLOOR.toFixed(2), barX + barW + pad, barY + barH - CELL_H * s, s);
  drawText(img, 'P(INFECTION)', Math.min(barX, width - pad - textWidth('P(INFECTION)', s)), barY - CELL_H * s - 3 * pad, s);
  // Disclaimer at the top (yellow), probability and slice below it, key-slice ordinal at the bottom.
  drawText(img, DISCLAIMER, pad, pad, s, [255, 255, 0]);
  drawText(img, `INFECTED AREA ${(slice.infectedAreaMm2 / 100).toFixed(1)} CM2`, pad, pad + (CELL_H + 2) * s, s);
  // Labelled as the reader finds the slice in the viewer: the source image's Instance Number and table position.
  drawText(img, `KEY SLICE ${label.keyIndex} OF ${label.keyCount} - ${sliceLabel(volume, slice.index).toUpperCase()}`, pad, height - pad - CELL_H * s, s);
  return img;
}
