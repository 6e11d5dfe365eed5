import type { SliceResult } from '../inference/types';
import type { HuVolume } from '../volume/types';
import { mapCell } from '../inference/infection';
import { drawText, fillRect, textWidth, CELL_H, type RgbImage } from './font';

/** Lung window used for the CT underlay (PS3.3 C.11.2.1.2: centre -600 HU, width 1500 HU). */
export const LUNG_WINDOW = { center: -600, width: 1500 } as const;
/** Lesion-map values below this share of full scale are not drawn (keeps normal lung readable). */
export const MAP_FLOOR = 0.15;
/** Text burned into every heat map. */
export const DISCLAIMER = 'AI RESULT, NOT FOR DIAGNOSTIC USE';
/** The smallest side a heat map is rendered at, so burned-in text stays legible on small matrices. */
const MIN_SIDE = 512;

/**
 * Viridis (van der Walt and Smith, matplotlib 2.0's default): perceptually uniform, its lightness rising steadily
 * from low to high and readable with colour-vision deficiency, unlike a rainbow. Anchors: entries 0, 32, ..., 224
 * and 255 of the 256-entry table `_viridis_data` in matplotlib's lib/matplotlib/_cm_listed.py (CC0), as 0..255 RGB;
 * linear between them.
 */
const VIRIDIS: [number, [number, number, number]][] = [
  [0 / 255, [68, 1, 84]],
  [32 / 255, [71, 45, 123]],
  [64 / 255, [59, 82, 139]],
  [96 / 255, [44, 114, 142]],
  [128 / 255, [33, 145, 140]],
  [160 / 255, [40, 174, 128]],
  [192 / 255, [94, 201, 98]],
  [224 / 255, [173, 220, 48]],
  [255 / 255, [253, 231, 37]],
];

/** The colour scale (viridis): dark violet (low) through blue and green to yellow (high); v in 0..1. */
export function colormap(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, v));
  for (let i = 1; i < VIRIDIS.length; i++) {
    const [t1, c1] = VIRIDIS[i];
    const [t0, c0] = VIRIDIS[i - 1];
    if (t <= t1) {
      const f = (t - t0) / (t1 - t0);
      return [0, 1, 2].map((k) => Math.round(c0[k] + (c1[k] - c0[k]) * f)) as [number, number, number];
    }
  }
  return VIRIDIS[VIRIDIS.length - 1][1];
}

/** Blend weight of the overlay for a map value (0 below the floor): strong enough that viridis' dark low end shows on dark lung. */
export function overlayAlpha(v: number): number {
  return v < MAP_FLOOR ? 0 : 0.45 + 0.45 * v;
}

/**
 * The lesion map value (0..1) at slice pixel (x, y), bilinear over the map placed on its crop box, and 0 wherever
 * the map cell holding the pixel is 0: the engine zeroed the cells away from the lung, and smoothing must not
 * spread colour from the lung onto the chest wall, mediastinum or spine.
 */
export function mapValueAt(s: SliceResult, x: number, y: number): number {
  const { cropBox: b, mapWidth: mw, mapHeight: mh, lesionMap } = s;
  if (x < b.x || y < b.y || x >= b.x + b.width || y >= b.y + b.height || mw === 0 || mh === 0) return 0;
  if (lesionMap[mapCell(y - b.y, b.height, mh) * mw + mapCell(x - b.x, b.width, mw)] === 0) return 0;
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

/** Lines of text in the legend strip below the image: disclaimer, slice, infected area, colour bar. */
const STRIP_LINES = 4;

/**
 * Renders one heat map: the CT slice in lung window with the lesion map blended over it in colour inside the lung,
 * and below the image a strip with the disclaimer, the slice, its infected area and a fixed colour legend
 * (MAP_FLOOR..1.0, whatever the slice's values), so no text or legend covers the anatomy. The image part is an
 * integer multiple of the slice matrix, from the top left corner (so a pixel maps back to the source image exactly).
 */
export function renderHeatMap(volume: HuVolume, slice: SliceResult, label: { keyIndex: number; keyCount: number }): RgbImage {
  const f = heatMapScale(volume);
  const width = volume.columns * f;
  const s = Math.max(1, Math.floor(width / 256));
  const pad = 4 * s;
  const line = (CELL_H + 3) * s;
  const imageHeight = volume.rows * f;
  const height = imageHeight + 2 * pad + STRIP_LINES * line;
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
  // The strip: disclaimer (yellow), the slice as the reader finds it in the viewer (the source image's Instance
  // Number and table position), the infected area, then the legend bar between its end values.
  const y0 = imageHeight + pad;
  drawText(img, DISCLAIMER, pad, y0, s, [255, 255, 0]);
  drawText(img, `KEY SLICE ${label.keyIndex} OF ${label.keyCount} - ${sliceLabel(volume, slice.index).toUpperCase()}`, pad, y0 + line, s);
  drawText(img, `INFECTED AREA ${(slice.infectedAreaMm2 / 100).toFixed(1)} CM2`, pad, y0 + 2 * line, s);
  const legendY = y0 + 3 * line;
  const title = `P(INFECTION) ${MAP_FLOOR.toFixed(2)}`;
  const barX = pad + textWidth(title, s) + pad;
  const barW = Math.max(s, width - barX - 2 * pad - textWidth('1.0', s));
  drawText(img, title, pad, legendY, s);
  for (let x = 0; x < barW; x++) fillRect(img, barX + x, legendY, 1, CELL_H * s, colormap(MAP_FLOOR + (x / Math.max(1, barW - 1)) * (1 - MAP_FLOOR)));
  drawText(img, '1.0', barX + barW + pad, legendY, s);
  return img;
}
