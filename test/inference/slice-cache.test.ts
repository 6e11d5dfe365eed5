// The engine's slice cache: a volume analysed again with slices it has seen (a study analysed while its instances
// still arrive, then whole) reuses their results and runs the model on the rest only, with the same numbers as an
// analysis from scratch. Real models, a real worker; no mocks.
import { analyzeVolume } from '../../src/inference/analysis-job';
import { InferenceEngine } from '../../src/inference/engine';
import { SliceCache } from '../../src/inference/slice-cache';
import { InferenceClient } from '../../src/inference/client';
import { startWorker, type WorkerHandle } from '../../src/inference/worker';
import type { Analysis } from '../../src/inference/types';
import type { HuVolume } from '../../src/volume/types';
import { phantomVolume } from './support/fixtures';
import { requireModels } from '../support/models';

let engine: InferenceEngine;
let worker: WorkerHandle;
const volume = phantomVolume({ size: 128, slices: 30 });

beforeAll(async () => {
  engine = await InferenceEngine.load({ modelsDir: requireModels(), executionProvider: 'auto', sliceCacheSlices: 64 });
  worker = await startWorker({ modelsDir: requireModels(), port: 0, engine, maxConcurrent: 1, maxSlices: 64 });
});

afterAll(async () => {
  await worker?.close();
  await engine?.close();
});

function numbers(a: Analysis): unknown {
  return { ...a, timingsMs: undefined, slicesReused: undefined, slices: a.slices.map((s) => ({ ...s, lesionMap: Array.from(s.lesionMap) })) };
}

/** The volume of some of the slices only, in their order: what a gateway holds while the study still arrives. */
function someSlices(v: HuVolume, indices: number[]): HuVolume {
  const plane = v.rows * v.columns;
  const hu = new Int16Array(indices.length * plane);
  indices.forEach((s, k) => hu.set(v.hu.subarray(s * plane, (s + 1) * plane), k * plane));
  return { ...v, slices: indices.length, hu, sources: indices.map((s) => v.sources[s]), contentHash: `${v.contentHash}-part` };
}

test('slices analysed before (in other batches, in a partial volume) are reused, and the result equals one from scratch', async () => {
  engine.sliceCache.clear();
  const scratch = await analyzeVolume(engine, volume);
  engine.sliceCache.clear();

  // Slices the model saw in other batches and next to other slices: the odd ones, and a run of three.
  const seen = [1, 3, 5, 7, 9, 11, 13, 20, 21, 22, 27, 29];
  const before = engine.stats.slicesReused;
  await analyzeVolume(engine, someSlices(volume, seen));
  expect(engine.stats.slicesReused).toBe(before);
  const batches = engine.stats.batches;

  const whole = await analyzeVolume(engine, volume);
  expect(engine.stats.slicesReused - before).toBe(seen.length);
  expect([scratch.slicesReused, whole.slicesReused]).toEqual([0, seen.length]);
  expect(numbers(whole)).toEqual(numbers(scratch));
  // The model ran on the 18 new slices only (batches of 4, 8 and 16: three, not the four 30 slices take).
  expect(engine.stats.batches - batches).toBe(3);

  // Through the worker, as the gateway calls it: every slice reused, the same numbers.
  const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 120_000 });
  try {
    const reused = engine.stats.slicesReused;
    const viaWorker = await client.analyze(volume);
    expect(engine.stats.slicesReused - reused).toBe(volume.slices);
    expect(viaWorker.slicesReused).toBe(volume.slices);
    expect(numbers(viaWorker)).toEqual(numbers(scratch));
  } finally {
    client.close();
  }
});

test('the cache keeps the most recently used slices up to its capacity, and nothing when it is 0', () => {
  const cache = new SliceCache<{ featureDim: number }>(2);
  const slice = (v: number) => new Int16Array(16).fill(v);
  const entry = (featureDim: number) => ({ featureDim });
  const [a, b, c] = [1, 2, 3].map((v) => cache.keyOf(slice(v), 4, 4)!);
  expect(cache.keyOf(slice(1), 4, 4)).toBe(a);
  expect(cache.keyOf(slice(1), 2, 8)).not.toBe(a); // the same values as another matrix are another slice
  cache.set(a, entry(1));
  cache.set(b, entry(2));
  expect(cache.get(a)?.featureDim).toBe(1); // a is now the most recently used
  cache.set(c, entry(3));
  expect(cache.get(b)).toBeUndefined();
  expect(cache.get(a)?.featureDim).toBe(1);
  expect(cache.get(c)?.featureDim).toBe(3);
  expect(new SliceCache(0).keyOf(slice(1), 4, 4)).toBeUndefined();
  expect(cache.keyOf([1, 2, 3, 4], 2, 2)).toBeUndefined();
});
