import { analyzeStack, type StackSlice } from '../../src/volume/geometry';

const c = Math.cos(Math.PI / 12);
const s = Math.sin(Math.PI / 12);
// Oblique stack: rows along x, columns tilted 15 degrees about x; normal = (0, -s, c).
const iop = [1, 0, 0, 0, c, s];
const normal = [0, -s, c];
const slice = (k: number, uid = `1.2.${k}`): StackSlice => ({
  sopInstanceUid: uid,
  frameNumber: 1,
  rows: 4,
  columns: 4,
  imageOrientationPatient: iop,
  pixelSpacing: [0.7, 0.7],
  imagePositionPatient: [-10, 5 + normal[1] * 1.25 * k, -30 + normal[2] * 1.25 * k],
});

describe('analyzeStack', () => {
  test('sorts an oblique stack along its normal, whatever the input order', () => {
    const input = [5, 0, 9, 3, 1, 8, 2, 7, 4, 6].map((k) => slice(k));
    const g = analyzeStack(input);
    if (!g.ok) throw new Error(g.error);
    expect(g.order.map((i) => input[i].sopInstanceUid)).toEqual(Array.from({ length: 10 }, (_, k) => `1.2.${k}`));
    expect(g.meanSpacing).toBeCloseTo(1.25, 9);
    expect(g.obliquityDeg).toBeCloseTo(15, 6);
    expect(g.tiltDeg).toBeCloseTo(0, 6);
    expect(g.warnings).toEqual([]);
  });

  test('a copy of the same instance is dropped with a warning; distinct slices at one position fail', () => {
    const g = analyzeStack([slice(0), slice(1), slice(1), slice(2)]);
    expect(g.ok && g.order.length).toBe(3);
    expect(g.ok && g.warnings[0]).toMatch(/1 duplicate copies of the same instance ignored/);
    const bad = analyzeStack([slice(0), slice(1), slice(1, '9.9'), slice(2)]);
    expect(!bad.ok && bad.error).toMatch(/^duplicate slice positions: 1 slice\(s\) share a position/);
  });

  test('non-orthonormal orientation, non-collinear origins, missing spacing', () => {
    expect(analyzeStack([{ ...slice(0), imageOrientationPatient: [1, 0, 0, 1, 0, 0] }])).toEqual({ ok: false, error: expect.stringMatching(/non-orthogonal/) });
    const shifted = [slice(0), { ...slice(1), imagePositionPatient: [0, 5 + normal[1] * 1.25, -30 + normal[2] * 1.25] }, slice(2)];
    expect(analyzeStack(shifted)).toEqual({ ok: false, error: expect.stringMatching(/inconsistent geometry: the origin of the slice .* lies 10 mm off the line/) });
    expect(analyzeStack([{ ...slice(0), pixelSpacing: undefined }])).toEqual({ ok: false, error: expect.stringMatching(/missing Pixel Spacing \(0028,0030\)/) });
  });
});
