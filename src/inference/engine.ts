/**
 * The inference engine: both ONNX models on onnxruntime-node (on the execution provider providers.ts picks), checked
 * against the contract, with the preprocessing settings from the manifest. Each volume is analysed by an AnalysisJob
 * (analysis-job.ts) the engine starts; the gRPC worker reaches the engine for every command.
 */
import type { LtError } from '../errors';
import { log } from '../logger';
import { AnalysisJob, type CachedSlice, type LoadedModels, type VolumeGeometry } from './analysis-job';
import { labelsOf, ManifestError, readManifest, verifyModelFiles, type Manifest } from './manifest';
import { openModelSessions, type ExecutionProviderChoice } from './providers';
import type { ThreadedSession } from './session-thread';
import { SliceCache } from './slice-cache';
import type { LabelInfo, ModelIdentity } from './types';

/** How to load the engine. */
export interface EngineOptions {
  modelsDir: string;
  executionProvider?: ExecutionProviderChoice;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, one per physical core). */
  threads?: number;
  /** Slices whose results are kept for a volume analysed again ({@link SliceCache}); 0 or unset: none. */
  sliceCacheSlices?: number;
}

/** Slice-model outputs the contract needs, by name (models/manifest.json slice.outputs). */
const SLICE_OUTPUTS = ['lesion_prob', 'class_probs', 'lesion_types', 'lesion_map', 'features'] as const;
/**
 * Patient-model inputs we know how to feed, all per slice and window-averaged: features [S,F], lesion_prob [S],
 * class probabilities [S,C] (named slice_class_probs by the non-parametric model, class_probs otherwise).
 */
const PATIENT_INPUTS = new Set(['features', 'lesion_prob', 'slice_class_probs', 'class_probs', 'infected_area_mm2', 'lung_area_mm2']);

/** Loaded models plus everything needed to analyse volumes. Thread-safe across concurrent jobs. */
export class InferenceEngine implements LoadedModels {
  /** Slice batches completed by all jobs of this engine, and slices whose results came from the cache (monitoring and tests). */
  readonly stats = { batches: 0, slicesReused: 0 };
  /** @internal */ readonly sliceCache: SliceCache<CachedSlice>;

  private constructor(
    readonly manifest: Manifest,
    readonly executionProvider: 'cuda' | 'cpu',
    readonly models: ModelIdentity[],
    readonly labels: { classes: LabelInfo[]; lesionTypes: LabelInfo[] },
    /** @internal */ readonly sliceSession: ThreadedSession,
    /** @internal */ readonly patientSession: ThreadedSession,
    sliceCacheSlices = 0,
  ) {
    this.sliceCache = new SliceCache(sliceCacheSlices);
  }

  /**
   * Reads the manifest, checks each model's sha256 (a mismatch throws ManifestError: the worker must not start),
   * and creates the sessions on the chosen execution provider.
   */
  static async load(opts: EngineOptions): Promise<InferenceEngine> {
    const manifest = readManifest(opts.modelsDir);
    const files = await verifyModelFiles(opts.modelsDir, manifest);
    const requested = opts.executionProvider ?? 'auto';
    const { executionProvider: ep, slice: sliceSession, patient: patientSession } = await openModelSessions(files, requested, opts.threads);
    checkSessions(manifest, sliceSession, patientSession);
    const models: ModelIdentity[] = [
      { role: 'slice', name: manifest.slice.name, version: manifest.slice.version, sha256: manifest.slice.sha256.toLowerCase() },
      { role: 'patient', name: manifest.patient.name, version: manifest.patient.version, sha256: manifest.patient.sha256.toLowerCase() },
    ];
    log.info('models loaded', {
      component: 'inference',
      system: `${manifest.name} ${manifest.version}`,
      executionProvider: ep,
      requested,
      models: models.map((m) => `${m.role}:${m.name}@${m.version}`),
    });
    return new InferenceEngine(manifest, ep, models, labelsOf(manifest), sliceSession, patientSession, opts.sliceCacheSlices);
  }

  /** Calls back once if a model session dies (its thread crashed): the engine cannot analyse any more. */
  onFailure(cb: (e: LtError) => void): void {
    let called = false;
    const once = (e: LtError) => {
      if (!called) cb(e);
      called = true;
    };
    this.sliceSession.onUnexpectedStop(once);
    this.patientSession.onUnexpectedStop(once);
  }

  /** Starts the analysis of one volume; slices are then added in order with addSlice. */
  newJob(geometry: VolumeGeometry): AnalysisJob {
    return new AnalysisJob(this, geometry);
  }

  /** Releases the sessions. */
  async close(): Promise<void> {
    await this.sliceSession.release();
    await this.patientSession.release();
  }
}

function checkSessions(m: Manifest, slice: ThreadedSession, patient: ThreadedSession): void {
  const problems: string[] = [];
  if (!slice.inputNames.includes(m.slice.inputName))
    problems.push(`slice model has no input "${m.slice.inputName}" (it has ${slice.inputNames.join(', ')})`);
  for (const o of SLICE_OUTPUTS) if (!slice.outputNames.includes(o)) problems.push(`slice model has no output "${o}"`);
  for (const i of patient.inputNames) if (!PATIENT_INPUTS.has(i)) problems.push(`patient model input "${i}" is not one of ${[...PATIENT_INPUTS].join(', ')}`);
  if (!patient.outputNames.includes('class_probs')) problems.push('patient model has no output "class_probs"');
  if (problems.length > 0) throw new ManifestError(`models do not match the contract:\n  - ${problems.join('\n  - ')}`);
}

