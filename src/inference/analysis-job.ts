/**
 * One volume through both models: slices are preprocessed as they arrive and batched through the slice model (the
 * batch scheduler: small first batches, at most two queued behind the running one), the window-averaged outputs and
 * the volume evidence (infection.ts) then go to the patient model, giving the Analysis. The worker runs one job per
 * Analyze call; analyzeVolume drives one in-process, with no server (benches, tests).
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { LtError } from '../errors';
import type { HuVolume } from '../volume/types';
import { sliceEvidence, sliceThicknesses, type SliceEvidence } from './infection';
import type { Manifest } from './manifest';
import { decidePatient, type VolumeEvidence } from './patient-decision';
import { prepareSlice, writeWindow, type PreparedSlice } from './preprocess';
import type { PlainTensor, ThreadedSession } from './session-thread';
import type { SliceCache } from './slice-cache';
import type { Analysis, LabelInfo, ModelIdentity, SliceResult } from './types';

/** The error a cancelled call ends with. */
export function cancelledError(reason = 'call cancelled'): LtError {
  return new LtError(reason, 499, GrpcStatus.CANCELLED);
}

/** What a job runs on: the loaded, checked models of an InferenceEngine. */
export interface LoadedModels {
  readonly manifest: Manifest;
  readonly executionProvider: 'cuda' | 'cpu';
  readonly models: ModelIdentity[];
  readonly labels: { classes: LabelInfo[]; lesionTypes: LabelInfo[] };
  readonly sliceSession: ThreadedSession;
  readonly patientSession: ThreadedSession;
  /** Slice batches completed by all jobs on these models, and slices whose results came from the cache (monitoring and tests). */
  readonly stats: { batches: number; slicesReused: number };
  /** Results of recently analysed slices, reused when a volume is analysed again. */
  readonly sliceCache: SliceCache<CachedSlice>;
}

/**
 * What a job needs to know of the volume: its matrix, and (for areas in mm² and volumes in mL) the pixel spacing
 * and the slice positions along the normal; without them areas are in pixels and slices 1 mm thick.
 */
export interface VolumeGeometry {
  rows: number;
  columns: number;
  slices: number;
  pixelSpacingMm?: [number, number];
  slicePositionsMm?: number[];
}

/** A preprocessed slice waiting for its batch, with its slice-cache key (none when the cache is off). */
interface PendingSlice {
  index: number;
  prep: PreparedSlice;
  key?: string;
}

/** A slice's results as the cache keeps them, with the output sizes they were made with. */
export interface CachedSlice {
  acc: SliceAcc;
  mapDims: [number, number];
  featureDim: number;
}

/** Per-slice sums over windows, turned into means at the end. */
interface SliceAcc {
  box: PreparedSlice['box'];
  evidence?: SliceEvidence;
  lesion: number;
  classes: Float64Array;
  types: Float64Array;
  map: Float64Array;
  features: Float64Array;
}

/**
 * One volume in flight: slices are preprocessed as they arrive and run in batches of manifest.slice.batchSize
 * (one onnxruntime run per window per batch), so upload and compute overlap and the whole volume is never held as
 * model input. abort() stops the work before the next batch and drops the buffers.
 */
export class AnalysisJob {
  private readonly manifest: Manifest;
  private pending: PendingSlice[] = [];
  private results: (SliceAcc | undefined)[];
  private chain: Promise<void> = Promise.resolve();
  /** Batches launched and not yet finished, oldest first. */
  private queued: Promise<void>[] = [];
  private nextIndex = 0;
  private aborted: LtError | undefined;
  private failed: unknown;
  /** The slice model's input buffer while it is not lent to the session thread. */
  private inputBuf: Float32Array | undefined;
  private mapDims: [number, number] = [0, 0];
  private featureDim = 0;
  /** Stage timings (ms). */
  readonly timings = { preprocess: 0, sliceModel: 0, patientModel: 0 };
  /** Batches launched so far (sets the size of the next one). */
  private launched = 0;
  /** Batches run so far (for progress and tests). */
  batchesRun = 0;
  /** Slices whose results came from the engine's slice cache. */
  slicesReused = 0;

  constructor(
    private readonly engine: LoadedModels,
    readonly geometry: VolumeGeometry,
  ) {
    this.manifest = engine.manifest;
    this.results = new Array<SliceAcc | undefined>(geometry.slices);
  }

  /** Stops the job between batches; pending and finished buffers are released. */
  abort(err: LtError = cancelledError()): void {
    if (this.aborted) return;
    this.aborted = err;
    this.pending = [];
    this.results = [];
    this.inputBuf = undefined;
  }

  /** Resolves once no batch is running any more (after abort, when the batch in progress has returned). */
  idle(): Promise<void> {
    return this.chain.catch(() => undefined);
  }

  /** True once abort() was called. */
  get isAborted(): boolean {
    return this.aborted !== undefined;
  }

  private throwIfStopped(): void {
    if (this.aborted) throw this.aborted;
    if (this.failed) throw this.failed;
  }

  /**
   * Adds the next slice (rows x columns HU values; the array may be reused by the caller after this returns).
   * Resolves when the backlog is small enough to accept more (back-pressure for the upload).
   */
  async addSlice(hu: ArrayLike<number>): Promise<void> {
    this.throwIfStopped();
    const { rows, columns, slices } = this.geometry;
    if (this.nextIndex >= slices) throw LtError.invalid(`more than the ${slices} slices the header announced`);
    const t0 = performance.now();
    const cache = this.engine.sliceCache;
    const key = cache.keyOf(hu, rows, columns);
    const hit = key === undefined ? undefined : cache.get(key);
    if (hit) {
      this.results[this.nextIndex++] = hit.acc;
      this.mapDims = hit.mapDims;
      this.featureDim = hit.featureDim;
      this.slicesReused++;
      this.engine.stats.slicesReused++;
      this.timings.preprocess += performance.now() - t0;
      return;
    }
    const prep = prepareSlice(hu, rows, columns, this.manifest.preprocessing);
    this.timings.preprocess += performance.now() - t0;
    this.pending.push({ index: this.nextIndex++, prep, key });
    if (this.pending.length >= this.nextBatchSize()) this.launch();
    // Keep at most two batches queued behind the running one.
    while (this.queued.length > 2) {
      await this.queued[0];
      this.throwIfStopped();
    }
  }

  /**
   * The first batches are small (4, then 8, up to manifest.slice.batchSize) so the model starts while the rest of
   * the volume is still arriving; per-slice cost on CPU hardly depends on the batch size.
   */
  private nextBatchSize(): number {
    return Math.min(this.manifest.slice.batchSize, 4 << this.launched);
  }

  private launch(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.launched++;
    const step: Promise<void> = this.chain
      .then(async () => {
        if (this.aborted || this.failed) return;
        await this.runBatch(batch);
      })
      .catch((e: unknown) => {
        this.failed ??= e;
      })
      .finally(() => {
        this.queued.splice(this.queued.indexOf(step), 1);
      });
    this.queued.push(step);
    this.chain = step;
  }

  private async runBatch(batch: PendingSlice[]): Promise<void> {
    const p = this.manifest.preprocessing;
    const plane = p.size * p.size;
    const k = batch.length;
    const nC = this.engine.labels.classes.length;
    const nT = this.engine.labels.lesionTypes.length;
    const windows = p.averageOverWindows ? p.windows : p.windows.slice(0, 1);
    const accs: SliceAcc[] = [];
    for (const w of windows) {
      if (this.aborted) return;
      const t0 = performance.now();
      // One input buffer per job: it moves to the session thread without a copy and comes back with the outputs.
      const buf = this.inputBuf ?? new Float32Array(this.manifest.slice.batchSize * 3 * plane);
      this.inputBuf = undefined;
      const input = buf.subarray(0, k * 3 * plane);
      for (let b = 0; b < k; b++) writeWindow(batch[b].prep.resized, w, p.normalisation, input, b * 3 * plane);
      this.timings.preprocess += performance.now() - t0;
      const t1 = performance.now();
      const name = this.manifest.slice.inputName;
      const { outputs: out, inputs } = await this.engine.sliceSession.run({ [name]: { data: input, dims: [k, 3, p.size, p.size] } }, [buf.buffer as ArrayBuffer]);
      if (inputs[name] && !this.aborted) this.inputBuf = new Float32Array(inputs[name].data.buffer);
      this.timings.sliceModel += performance.now() - t1;
      if (this.aborted) return;
      const lesion = out.lesion_prob.data;
      const classes = out.class_probs.data;
      const types = out.lesion_types.data;
      const map = out.lesion_map.data;
      const feats = out.features.data;
      const mapDims = out.lesion_map.dims;
      const mapSize = Number(mapDims[1]) * Number(mapDims[2]);
      const fDim = Number(out.features.dims[1]);
      if (classes.length !== k * nC || types.length !== k * nT)
        throw LtError.internal(`slice model output sizes do not match the manifest's ${nC} classes and ${nT} lesion types`);
      this.mapDims = [Number(mapDims[1]), Number(mapDims[2])];
      this.featureDim = fDim;
      for (let b = 0; b < k; b++) {
        const a = (accs[b] ??= {
          box: batch[b].prep.box,
          lesion: 0,
          classes: new Float64Array(nC),
          types: new Float64Array(nT),
          map: new Float64Array(mapSize),
          features: new Float64Array(fDim),
        });
        a.lesion += lesion[b];
        for (let i = 0; i < nC; i++) a.classes[i] += classes[b * nC + i];
        for (let i = 0; i < nT; i++) a.types[i] += types[b * nT + i];
        for (let i = 0; i < mapSize; i++) a.map[i] += map[b * mapSize + i];
        for (let i = 0; i < fDim; i++) a.features[i] += feats[b * fDim + i];
      }
    }
    const nw = windows.length;
    for (let b = 0; b < k; b++) {
      const a = accs[b];
      a.lesion /= nw;
      for (const arr of [a.classes, a.types, a.map, a.features]) for (let i = 0; i < arr.length; i++) arr[i] /= nw;
      const prep = batch[b].prep;
      if (this.manifest.infection) a.evidence = sliceEvidence(a.map, this.mapDims[1], this.mapDims[0], prep.box, prep.lung, this.geometry.columns, prep.lungPixels, this.manifest.infection.pixelThreshold);
      this.results[batch[b].index] = a;
      const key = batch[b].key;
      if (key !== undefined) this.engine.sliceCache.set(key, { acc: a, mapDims: [...this.mapDims], featureDim: this.featureDim });
    }
    this.batchesRun++;
    this.engine.stats.batches++;
  }

  /** Runs what is left, then the patient model; returns the Analysis (timings: preprocess, sliceModel, patientModel). */
  async finish(): Promise<Analysis> {
    this.throwIfStopped();
    const { slices } = this.geometry;
    if (this.nextIndex !== slices) throw LtError.invalid(`got ${this.nextIndex} slices, the header announced ${slices}`);
    this.launch();
    await this.chain;
    this.inputBuf = undefined;
    this.throwIfStopped();
    const accs = this.results as SliceAcc[];
    const m = this.manifest;
    const { classes, lesionTypes } = this.engine.labels;
    const nC = classes.length;

    // Patient model on the window-averaged slice outputs.
    const t0 = performance.now();
    const spacing = this.geometry.pixelSpacingMm ?? [1, 1];
    const pixelArea = spacing[0] * spacing[1];
    const feeds: Record<string, PlainTensor> = {};
    for (const name of this.engine.patientSession.inputNames) {
      if (name === 'features') {
        const f = new Float32Array(slices * this.featureDim);
        accs.forEach((a, s) => f.set(a.features, s * this.featureDim));
        feeds[name] = { data: f, dims: [slices, this.featureDim] };
      } else if (name === 'lesion_prob') {
        feeds[name] = { data: Float32Array.from(accs, (a) => a.lesion), dims: [slices] };
      } else if (name === 'infected_area_mm2' || name === 'lung_area_mm2') {
        const px = name === 'infected_area_mm2' ? (e: SliceEvidence) => e.infectedPixels : (e: SliceEvidence) => e.lungPixels;
        feeds[name] = { data: Float32Array.from(accs, (a) => (a.evidence ? px(a.evidence) * pixelArea : 0)), dims: [slices] };
      } else {
        const c = new Float32Array(slices * nC);
        accs.forEach((a, s) => c.set(a.classes, s * nC));
        feeds[name] = { data: c, dims: [slices, nC] };
      }
    }
    const { outputs: out } = await this.engine.patientSession.run(feeds);
    this.timings.patientModel = performance.now() - t0;
    this.throwIfStopped();
    const probs = Array.from(out.class_probs.data);
    if (probs.length !== nC) throw LtError.internal(`patient model gave ${probs.length} class probabilities, the manifest has ${nC} classes`);
    let evidence: VolumeEvidence | undefined;
    if (m.infection) {
      const thickness = sliceThicknesses(this.geometry.slicePositionsMm ?? accs.map((_, i) => i), 1);
      evidence = { fraction: out.infection_fraction ? Number(out.infection_fraction.data[0]) : 0, infectedMl: 0, lungMl: 0 };
      accs.forEach((a, i) => {
        evidence!.infectedMl += ((a.evidence?.infectedPixels ?? 0) * pixelArea * thickness[i]) / 1000;
        evidence!.lungMl += ((a.evidence?.lungPixels ?? 0) * pixelArea * thickness[i]) / 1000;
      });
    }
    const patient = decidePatient(m, classes, probs, evidence);

    const [mh, mw] = this.mapDims;
    const sliceResults: SliceResult[] = accs.map((a, index) => ({
      index,
      lungAreaMm2: (a.evidence?.lungPixels ?? 0) * pixelArea,
      infectedAreaMm2: (a.evidence?.infectedPixels ?? 0) * pixelArea,
      imageLeftLungAreaMm2: (a.evidence?.imageLeftLungPixels ?? 0) * pixelArea,
      imageLeftInfectedAreaMm2: (a.evidence?.imageLeftInfectedPixels ?? 0) * pixelArea,
      infectionProbability: Math.fround(a.evidence?.maxProbability ?? 0),
      lesionProbability: Math.fround(a.lesion),
      classProbabilities: Array.from(a.classes, Math.fround),
      lesionTypeProbabilities: Array.from(a.types, Math.fround),
      lesionMap: toUint8(a.map),
      mapWidth: mw,
      mapHeight: mh,
      cropBox: { x: a.box.x0, y: a.box.y0, width: a.box.x1 - a.box.x0, height: a.box.y1 - a.box.y0 },
    }));
    this.results = [];
    return {
      classes,
      positiveClass: m.positiveClass,
      lesionTypes,
      slices: sliceResults,
      patient,
      sliceLesionThreshold: m.sliceLesionThreshold,
      ...(m.infection ? { minInfectedSliceAreaMm2: m.infection.minSliceAreaMm2, infectionPixelThreshold: m.infection.pixelThreshold } : {}),
      models: this.engine.models.map((x) => ({ ...x })),
      executionProvider: this.engine.executionProvider,
      slicesReused: this.slicesReused,
      timingsMs: {
        preprocess: round3(this.timings.preprocess),
        sliceModel: round3(this.timings.sliceModel),
        patientModel: round3(this.timings.patientModel),
      },
    };
  }
}

function toUint8(v: Float64Array): Uint8Array {
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, v[i])) * 255);
  return out;
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Analyses a whole in-memory volume without a server (benches, tests). Honours an AbortSignal between
 * batches. Same numbers as the worker returns for the same volume.
 */
export async function analyzeVolume(engine: LoadedModels, volume: HuVolume, opts: { signal?: AbortSignal } = {}): Promise<Analysis> {
  const t0 = performance.now();
  const { rows, columns, slices } = volume;
  const plane = rows * columns;
  if (volume.hu.length !== plane * slices)
    throw LtError.invalid(`volume holds ${volume.hu.length} voxels, expected rows*columns*slices = ${plane * slices}`);
  const job = new AnalysisJob(engine, { rows, columns, slices, pixelSpacingMm: volume.pixelSpacing, slicePositionsMm: volume.sources.map((x) => x.position) });
  const onAbort = () => job.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (opts.signal?.aborted) job.abort();
    for (let s = 0; s < slices; s++) await job.addSlice(volume.hu.subarray(s * plane, (s + 1) * plane));
    const a = await job.finish();
    a.timingsMs.total = Math.round((performance.now() - t0) * 1000) / 1000;
    return a;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
