// Preprocessing (src/inference/preprocess.ts) against the spec (models/PREPROCESSING.md) and against the Python
// reference itself (models/training/preprocess.py) on phantom slices of several sizes.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readManifest } from '../../src/inference/manifest';
import { cropBox, openedMask, prepareSlice, resizeBilinear, writeWindow } from '../../src/inference/preprocess';
import { chestPhantom } from '../../src/synthetic/phantom';
import { requireModels } from '../support/models';
import { tempDir } from '../support/temp-dir';

const p = readManifest(requireModels()).preprocessing;

describe('lung crop box', () => {
  test('a chest slice: the box holds the lungs, not the air around the body', () => {
    const ph = chestPhantom({ size: 200, slices: 9 });
    const sl = ph.hu.subarray(4 * 200 * 200, 5 * 200 * 200);
    const b = cropBox(sl, 200, 200, p.crop);
    expect(b.x0).toBeGreaterThan(0);
    expect(b.y0).toBeGreaterThan(0);
    expect(b.x1).toBeLessThan(200);
    expect(b.y1).toBeLessThan(200);
    expect((b.x1 - b.x0) * (b.y1 - b.y0)).toBeGreaterThanOrEqual(0.1 * 200 * 200);
  });

  test('only air (one border-touching component) or only tissue: the whole image', () => {
    expect(cropBox(new Int16Array(64 * 48).fill(-1000), 48, 64, p.crop)).toEqual({ y0: 0, y1: 48, x0: 0, x1: 64 });
    expect(cropBox(new Int16Array(64 * 64).fill(40), 64, 64, p.crop)).toEqual({ y0: 0, y1: 64, x0: 0, x1: 64 });
  });

  test('a small air pocket (box below minBoxFraction) falls back to the whole image; a large one is boxed with margin', () => {
    const img = (r: number) => {
      const a = new Int16Array(100 * 100).fill(40);
      for (let y = 50 - r; y < 50 + r; y++) for (let x = 50 - r; x < 50 + r; x++) a[y * 100 + x] = -900;
      return a;
    };
    expect(cropBox(img(12), 100, 100, p.crop)).toEqual({ y0: 0, y1: 100, x0: 0, x1: 100 }); // 24x24 + margins < 10%
    const mg = Math.floor(p.crop.marginFraction * 100);
    expect(cropBox(img(20), 100, 100, p.crop)).toEqual({ y0: 30 - mg, y1: 70 + mg, x0: 30 - mg, x1: 70 + mg });
  });

  test('the opening removes one-pixel-wide lines; diagonal neighbours join components (8-connectivity)', () => {
    const a = new Int16Array(100 * 100).fill(40);
    for (let y = 30; y < 70; y++) for (let x = 20; x < 45; x++) a[y * 100 + x] = -900; // block A
    for (let y = 30; y < 70; y++) for (let x = 55; x < 80; x++) a[y * 100 + x] = -900; // block B
    for (let x = 0; x < 100; x++) a[10 * 100 + x] = -900; // thin line touching the border: opened away
    const b = cropBox(a, 100, 100, p.crop);
    const mg = Math.floor(p.crop.marginFraction * 100);
    expect(b).toEqual({ y0: 30 - mg, y1: 70 + mg, x0: 20 - mg, x1: 80 + mg });
  });

  test('the word-packed opening equals a plain per-pixel 3x3 opening, at every width around the word size', () => {
    // The definition itself: min (erosion) then max (dilation) over the 3x3 square, outside pixels as background.
    const pass = (m: Uint8Array, h: number, w: number, erode: boolean) => {
      const out = new Uint8Array(h * w);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          let v = erode ? 1 : 0;
          for (let dy = -1; dy <= 1; dy++)
            for (let dx = -1; dx <= 1; dx++) {
              const yy = y + dy;
              const xx = x + dx;
              const n = yy < 0 || yy >= h || xx < 0 || xx >= w ? 0 : m[yy * w + xx];
              v = erode ? v & n : v | n;
            }
          out[y * w + x] = v;
        }
      return out;
    };
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (const [h, w] of [[1, 1], [1, 40], [40, 1], [3, 31], [9, 32], [17, 33], [5, 64], [12, 65], [30, 100]]) {
      for (const density of [0.3, 0.7, 0.9]) {
        const hu = Float32Array.from({ length: h * w }, () => (rand() < density ? -900 : 40));
        for (const iterations of [1, 2]) {
          let ref: Uint8Array = Uint8Array.from(hu, (v) => (v < p.crop.thresholdHu ? 1 : 0));
          for (let k = 0; k < iterations; k++) ref = pass(pass(ref, h, w, true), h, w, false);
          expect([h, w, density, iterations, Array.from(openedMask(hu, h, w, p.crop.thresholdHu, iterations))]).toEqual([h, w, density, iterations, Array.from(ref)]);
        }
      }
    }
  });
});

describe('resize and windows', () => {
  test('resizing to the same size is the identity; constant images stay constant', () => {
    const src = Float64Array.from({ length: 16 * 16 }, (_, i) => (i * 37) % 101);
    expect(Array.from(resizeBilinear(src, 16, { y0: 0, y1: 16, x0: 0, x1: 16 }, 16, 16))).toEqual(Array.from(src));
    const c = new Float64Array(30 * 20).fill(-600);
    expect(new Set(resizeBilinear(c, 20, { y0: 3, y1: 30, x0: 2, x1: 19 }, 224, 224))).toEqual(new Set([-600]));
  });

  test('2x upsampling uses half-pixel centres with edge clamping', () => {
    const r = resizeBilinear([0, 4], 2, { y0: 0, y1: 1, x0: 0, x1: 2 }, 1, 4);
    expect(Array.from(r)).toEqual([0, 1, 3, 4]); // s = -0.25 -> 0, 0.25, 0.75, 1.25 -> 1
  });

  test('window levelling maps [center - width/2, center + width/2] to [-1, 1] in 3 identical channels', () => {
    const out = new Float32Array(3 * 4);
    writeWindow(Float64Array.from([-1300, -700, -100, 500]), { center: -700, width: 1200 }, p.normalisation, out, 0);
    expect(Array.from(out)).toEqual([-1, 0, 1, 1, -1, 0, 1, 1, -1, 0, 1, 1]);
  });
});

const python = spawnSync('/usr/bin/python3', ['-c', 'import numpy, scipy'], { stdio: 'ignore' }).status === 0;
(python ? describe : describe.skip)(`equal to models/training/preprocess.py${python ? '' : ' [SKIPPED: /usr/bin/python3 with numpy+scipy absent]'}`, () => {
  let dir: string;
  beforeAll(() => (dir = tempDir('prep')));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const script = `
import sys, json, numpy as np
sys.path.insert(0, ${JSON.stringify(path.resolve(__dirname, '../../models/training'))})
from preprocess import preprocess
a = np.fromfile(sys.argv[1], dtype='<i2').reshape(int(sys.argv[2]), int(sys.argv[3]))
x, box = preprocess(a.astype(np.float64))
x[:, 0].astype('<f4').tofile(sys.argv[4])
print(json.dumps([int(v) for v in box]))
`;
  test.each([
    [512, 512, 5],
    [333, 333, 3],
    [200, 260, 1],
  ])('phantom slice %ix%i (slice %i): same box, tensor within 1e-6', (rows, cols, z) => {
    const size = Math.max(rows, cols);
    const ph = chestPhantom({ size, slices: 8 });
    const sl = new Int16Array(rows * cols);
    for (let y = 0; y < rows; y++) sl.set(ph.hu.subarray(z * size * size + y * size, z * size * size + y * size + cols), y * cols);
    const inF = path.join(dir, 'in.bin');
    const outF = path.join(dir, 'out.bin');
    writeFileSync(inF, Buffer.from(sl.buffer));
    writeFileSync(path.join(dir, 'p.py'), script);
    const box = JSON.parse(execFileSync('/usr/bin/python3', [path.join(dir, 'p.py'), inF, String(rows), String(cols), outF], { encoding: 'utf8' })) as number[];
    const ref = new Float32Array(new Uint8Array(readFileSync(outF)).buffer);
    const prep = prepareSlice(sl, rows, cols, p);
    expect([prep.box.y0, prep.box.y1, prep.box.x0, prep.box.x1]).toEqual(box);
    const plane = p.size * p.size;
    const t = new Float32Array(3 * plane);
    let max = 0;
    p.windows.forEach((w, k) => {
      writeWindow(prep.resized, w, p.normalisation, t, 0);
      for (let i = 0; i < plane; i++) max = Math.max(max, Math.abs(t[i] - ref[k * plane + i]));
    });
    expect(max).toBeLessThanOrEqual(1e-6);
  });
});
