// Volume evidence from the infection map (src/inference/infection.ts): lung restriction, areas, the patient rule.
import { infectionDecision, sliceEvidence, sliceThicknesses } from '../../src/inference/infection';

/** A 20x20 slice whose lung is the 8x8 square at rows/columns 6..13, the crop box the whole slice. */
function slice(): { lung: Uint8Array; box: { y0: number; y1: number; x0: number; x1: number } } {
  const lung = new Uint8Array(400);
  for (let y = 6; y < 14; y++) for (let x = 6; x < 14; x++) lung[y * 20 + x] = 1;
  return { lung, box: { y0: 0, y1: 20, x0: 0, x1: 20 } };
}

test('a slice without lung keeps nothing, whatever the map says', () => {
  const map = new Float64Array(16).fill(0.9);
  const ev = sliceEvidence(map, 4, 4, { y0: 0, y1: 20, x0: 0, x1: 20 }, new Uint8Array(400), 20, 0, 0.5);
  expect(ev).toEqual({ lungPixels: 0, infectedPixels: 0, imageLeftLungPixels: 0, imageLeftInfectedPixels: 0, maxProbability: 0 });
  expect([...map].every((v) => v === 0)).toBe(true);
});

test('infected and lung areas: infection outside the aerated mask counts as lung', () => {
  const { lung, box } = slice();
  // 5x5 map, 4x4 pixels per cell; the lung (pixels 6..13) touches cells 1..3, so every cell is near it.
  const map = new Float64Array(25).fill(0);
  map[0] = 1; // corner cell: no lung pixel in it (chest-wall consolidation, say)
  map[2 * 5 + 2] = 0.5; // centre cell: all 16 pixels are lung
  map[2 * 5 + 3] = 0.3; // below the threshold: not infected
  const ev = sliceEvidence(map, 5, 5, box, lung, 20, 64, 0.5);
  expect(ev.infectedPixels).toBe(16 + 16);
  expect(ev.lungPixels).toBe(64 + 16);
  expect(ev.imageLeftInfectedPixels).toBeCloseTo(16, 6); // the corner cell is on the left half, the centre is not
  expect(ev.maxProbability).toBe(1);
});

test('a cell with no lung in its 3x3 neighbourhood is outside the lung', () => {
  const lung = new Uint8Array(400);
  lung[0] = 1; // one lung pixel in the top-left cell
  const map = new Float64Array(25).fill(0.8);
  const ev = sliceEvidence(map, 5, 5, { y0: 0, y1: 20, x0: 0, x1: 20 }, lung, 20, 1, 0.5);
  // Only cells (0..1, 0..1) are near cell (0,0).
  const kept = [...map].map((v, i) => (v > 0 ? i : -1)).filter((i) => i >= 0);
  expect(kept).toEqual([0, 1, 5, 6]);
  expect(ev.infectedPixels).toBe(4 * 16);
  // All four kept cells are on the image's left half (columns 0..1 of 5).
  expect(ev.imageLeftInfectedPixels).toBeCloseTo(ev.infectedPixels, 6);
});

test('slice thicknesses: half the distance to each neighbour, the nearest at the ends', () => {
  expect(sliceThicknesses([0, 2, 4, 8], 1)).toEqual([2, 2, 3, 4]);
  expect(sliceThicknesses([5], 1.5)).toEqual([1.5]);
});

test('the patient rule: present, indeterminate band, absent', () => {
  const rule = { pixelThreshold: 0.5, present: 0.01, indeterminate: 0.005, urgentFraction: 0.1, minSliceAreaMm2: 100 };
  expect(infectionDecision(0.02, rule)).toBe('present');
  expect(infectionDecision(0.01, rule)).toBe('present');
  expect(infectionDecision(0.007, rule)).toBe('indeterminate');
  expect(infectionDecision(0.001, rule)).toBe('absent');
});
