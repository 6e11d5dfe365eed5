// Golden-vector parity with the Python reference (models/golden, written by models/training/golden.py):
// TypeScript preprocessing vs preprocess.py, onnxruntime-node outputs vs PyTorch, window averaging and the
// patient models, all to 1e-4.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { InferenceEngine } from '../../src/inference/engine';
import { readManifest } from '../../src/inference/manifest';
import { prepareSlice, writeWindow } from '../../src/inference/preprocess';
import { requireModels } from '../support/models';

const TOL = 1e-4;

interface ArrayMeta {
  dtype: 'int16' | 'uint8' | 'float32';
  shape: number[];
  byteOffset: number;
  byteLength: number;
}
interface Fixture {
  name: string;
  kind: 'dicom-hu' | 'figure-grey' | 'patient';
  box?: [number, number, number, number];
  windows?: { center: number; width: number }[];
  evidence?: { lungPixels: number; infectedPixels: number; imageLeftLungPixels: number; imageLeftInfectedPixels: number; maxProbability: number };
  arrays: Record<string, ArrayMeta>;
  file: string;
}

const goldenDir = path.join(requireModels(), 'golden');
const fixtures: Fixture[] = existsSync(goldenDir)
  ? readdirSync(goldenDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(path.join(goldenDir, f), 'utf8')) as Fixture)
  : [];

function arr(fx: Fixture, name: string): { data: Int16Array | Uint8Array | Float32Array; shape: number[] } {
  const m = fx.arrays[name];
  if (!m) throw new Error(`golden ${fx.name} has no array ${name}`);
  const bin = readFileSync(path.join(goldenDir, fx.file));
  const bytes = new Uint8Array(bin.byteLength);
  bytes.set(bin);
  const buf = bytes.buffer.slice(m.byteOffset, m.byteOffset + m.byteLength);
  const data = m.dtype === 'int16' ? new Int16Array(buf) : m.dtype === 'uint8' ? new Uint8Array(buf) : new Float32Array(buf);
  return { data, shape: m.shape };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

const manifest = readManifest(requireModels());
const sliceFixtures = fixtures.filter((f) => f.kind !== 'patient');
const patientFixtures = fixtures.filter((f) => f.kind === 'patient');

test('the golden vectors exist (slice: DICOM HU, figure, fallback; patient)', () => {
  expect(sliceFixtures.map((f) => f.kind)).toEqual(expect.arrayContaining(['dicom-hu', 'figure-grey']));
  expect(sliceFixtures.some((f) => f.box && f.box[0] === 0 && f.box[2] === 0)).toBe(true); // a whole-image fallback
  expect(patientFixtures.length).toBeGreaterThan(0);
});

describe.each(sliceFixtures.map((f) => [f.name, f] as const))('slice golden %s', (_name, fx) => {
  let engine: InferenceEngine;
  beforeAll(async () => {
    engine = await InferenceEngine.load({ modelsDir: requireModels(), executionProvider: 'cpu' });
  });
  afterAll(() => engine?.close());

  const input = arr(fx, 'input');
  const figure = manifest.preprocessing.figureGreyToHu ?? { slope: 1500 / 255, intercept: -1350 };
  const [h, w] = input.shape;
  const hu =
    fx.kind === 'dicom-hu'
      ? input.data
      : Float64Array.from(input.data, (g) => g * figure.slope + figure.intercept);
  const p = manifest.preprocessing;
  const plane = p.size * p.size;
  const W = p.windows.length;
  const tensor = new Float32Array(W * 3 * plane);
  const prep = prepareSlice(hu, h, w, p);
  p.windows.forEach((win, k) => writeWindow(prep.resized, win, p.normalisation, tensor, k * 3 * plane));

  test('crop box and lung mask equal the Python ones', () => {
    expect([prep.box.y0, prep.box.y1, prep.box.x0, prep.box.x1]).toEqual(fx.box);
    expect(fx.windows).toEqual(p.windows);
    expect(maxAbsDiff(prep.lung, arr(fx, 'lung_mask').data)).toBe(0);
  });

  test('preprocessed tensor equals preprocess.py to 1e-4 (three identical channels per window)', () => {
    const ref = arr(fx, 'tensor').data; // [W, S, S], channel 0
    for (let k = 0; k < W; k++) {
      for (let c = 0; c < 3; c++) {
        const ours = tensor.subarray((k * 3 + c) * plane, (k * 3 + c + 1) * plane);
        expect(maxAbsDiff(ours, ref.subarray(k * plane, (k + 1) * plane))).toBeLessThanOrEqual(TOL);
      }
    }
  });

  test('onnxruntime-node outputs on our tensor equal the PyTorch outputs to 1e-4', async () => {
    const { outputs: out } = await engine.sliceSession.run({ [manifest.slice.inputName]: { data: tensor, dims: [W, 3, p.size, p.size] } });
    for (const k of ['lesion_prob', 'class_probs', 'lesion_types', 'lesion_map', 'features']) {
      const ref = arr(fx, k);
      expect(out[k].dims.map(Number)).toEqual(ref.shape);
      expect(maxAbsDiff(out[k].data, ref.data)).toBeLessThanOrEqual(TOL);
    }
  });

  if (fx.kind === 'dicom-hu') {
    test('the engine (batched, averaged over windows) gives the golden window means', async () => {
      const job = engine.newJob({ rows: h, columns: w, slices: 1 });
      await job.addSlice(hu);
      const a = await job.finish();
      const s = a.slices[0];
      expect(Math.abs(s.lesionProbability - arr(fx, 'mean_lesion_prob').data[0])).toBeLessThanOrEqual(TOL);
      expect(maxAbsDiff(s.classProbabilities, arr(fx, 'mean_class_probs').data)).toBeLessThanOrEqual(TOL);
      expect(maxAbsDiff(s.lesionTypeProbabilities, arr(fx, 'mean_lesion_types').data)).toBeLessThanOrEqual(TOL);
      // The map as the worker reports it: restricted to the lung (evidence.py / infection.ts), uint8.
      const refMap = Array.from(arr(fx, 'mean_lesion_map_in_lung').data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
      expect(maxAbsDiff(s.lesionMap, refMap)).toBeLessThanOrEqual(1); // uint8 quantisation: one step at most
      const ev = fx.evidence!;
      expect(s.lungAreaMm2).toBeCloseTo(ev.lungPixels, 1); // no spacing given: 1 mm² pixels
      expect(s.infectedAreaMm2).toBeCloseTo(ev.infectedPixels, 1);
      expect(s.imageLeftLungAreaMm2).toBeCloseTo(ev.imageLeftLungPixels, 1);
      expect(s.imageLeftInfectedAreaMm2).toBeCloseTo(ev.imageLeftInfectedPixels, 1);
      expect(s.infectionProbability).toBeCloseTo(ev.maxProbability, 4);
      expect(s.cropBox).toEqual({ x: fx.box![2], y: fx.box![0], width: fx.box![3] - fx.box![2], height: fx.box![1] - fx.box![0] });
    });
  }
});

describe('patient golden', () => {
  const models = [manifest.patient, ...manifest.patient.alternatives];
  test.each(patientFixtures.flatMap((fx) => models.map((m) => [fx.name, m.kind, fx, m] as const)))(
    '%s on the %s patient model equals PyTorch to 1e-4',
    async (_n, _kind, fx, m) => {
      const session = await ort.InferenceSession.create(path.join(requireModels(), m.file), { executionProviders: ['cpu'] });
      try {
        const feeds: Record<string, ort.Tensor> = {};
        for (const name of session.inputNames) {
          const src = name === 'class_probs' ? 'slice_class_probs' : name;
          const a = arr(fx, src);
          feeds[name] = new ort.Tensor('float32', a.data as Float32Array, a.shape);
        }
        const out = await session.run(feeds);
        expect(session.outputNames.length).toBeGreaterThan(0);
        for (const name of session.outputNames) expect(maxAbsDiff(out[name].data as Float32Array, arr(fx, name).data)).toBeLessThanOrEqual(TOL);
      } finally {
        await session.release();
      }
    },
  );
});
