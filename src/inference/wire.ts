/**
 * The inference contract on the wire: Analysis, labels, models and the volume's geometry to and from the generated
 * proto types (lungtriage.inference.v1). The one mapping both sides use, the worker (worker.ts) to answer and the
 * gateway's client (client.ts) to read the answer, so a field added to the contract is mapped in one place.
 */
import type { AnalyzeResponse, AnalyzeResponse__Output } from '../generated/lungtriage/inference/v1/AnalyzeResponse';
import type { InfectionResult__Output } from '../generated/lungtriage/inference/v1/InfectionResult';
import type { Label, Label__Output } from '../generated/lungtriage/inference/v1/Label';
import type { ListModelsResponse, ListModelsResponse__Output } from '../generated/lungtriage/inference/v1/ListModelsResponse';
import type { ModelInfo, ModelInfo__Output } from '../generated/lungtriage/inference/v1/ModelInfo';
import type { VolumeHeader, VolumeHeader__Output } from '../generated/lungtriage/inference/v1/VolumeHeader';
import { LtError } from '../errors';
import type { HuVolume } from '../volume/types';
import type { VolumeGeometry } from './analysis-job';
import type { Analysis, LabelInfo, ModelIdentity, PatientResult } from './types';

/** What a worker's models are, as its ListModels says (the patient model's kind from the manifest). */
export interface WorkerModels {
  address: string;
  executionProvider: string;
  systemName: string;
  systemVersion: string;
  models: (ModelIdentity & { kind: string })[];
  maxConcurrent: number;
  maxSlices: number;
  activeCalls: number;
  classes: LabelInfo[];
  lesionTypes: LabelInfo[];
}

/** The identity of the system answering: manifest name and version, and the patient model's kind. */
export interface WorkerSystem {
  systemName: string;
  systemVersion: string;
  patientKind: string;
}

export function labelsToWire(l: LabelInfo[]): Label[] {
  return l.map((x) => ({ label: x.label, display: x.display, code: x.code ? { ...x.code } : null }));
}

export function labelsFromWire(l: Label__Output[]): LabelInfo[] {
  return l.map((x) => ({ label: x.label, display: x.display, code: x.code ? { value: x.code.value, scheme: x.code.scheme, meaning: x.code.meaning } : null }));
}

/** Models in wire form: the patient model carries its kind, the slice model none. */
export function modelsToWire(models: ModelIdentity[], patientKind: string): ModelInfo[] {
  return models.map((m) => ({ ...m, kind: m.role === 'patient' ? patientKind : '' }));
}

function modelFromWire(m: ModelInfo__Output): ModelIdentity {
  return { role: m.role === 'patient' ? 'patient' : 'slice', name: m.name, version: m.version, sha256: m.sha256 };
}

/** The volume header the client sends first: identity, matrix, spacing and slice positions (ascending). */
export function volumeHeaderOf(v: HuVolume): VolumeHeader {
  return {
    studyId: v.studyUid,
    seriesId: v.seriesUid,
    rows: v.rows,
    columns: v.columns,
    slices: v.slices,
    rowSpacingMm: v.pixelSpacing[0],
    columnSpacingMm: v.pixelSpacing[1],
    slicePositionsMm: v.sources.length === v.slices ? v.sources.map((s) => s.position) : Array.from({ length: v.slices }, (_, i) => i * v.sliceSpacing),
    contentHash: v.contentHash,
  };
}

/** What the worker's job needs of a (validated) volume header. */
export function geometryFromHeader(h: VolumeHeader__Output): VolumeGeometry {
  return { rows: h.rows, columns: h.columns, slices: h.slices, pixelSpacingMm: [h.rowSpacingMm, h.columnSpacingMm], slicePositionsMm: h.slicePositionsMm };
}

/** Analysis -> AnalyzeResponse (the worker's answer). */
export function analysisToResponse(a: Analysis, system: WorkerSystem & { contentHash: string }): AnalyzeResponse {
  return {
    classes: labelsToWire(a.classes),
    positiveClass: a.positiveClass,
    lesionTypes: labelsToWire(a.lesionTypes),
    slices: a.slices.map((s) => ({
      index: s.index,
      lesionProbability: s.lesionProbability,
      classProbabilities: s.classProbabilities,
      lesionTypeProbabilities: s.lesionTypeProbabilities,
      lesionMap: Buffer.from(s.lesionMap.buffer, s.lesionMap.byteOffset, s.lesionMap.byteLength),
      mapWidth: s.mapWidth,
      mapHeight: s.mapHeight,
      cropBox: s.cropBox,
      lungAreaMm2: s.lungAreaMm2,
      infectedAreaMm2: s.infectedAreaMm2,
      imageLeftLungAreaMm2: s.imageLeftLungAreaMm2,
      imageLeftInfectedAreaMm2: s.imageLeftInfectedAreaMm2,
      infectionProbability: s.infectionProbability,
    })),
    patient: { ...a.patient, infection: a.patient.infection ? { ...a.patient.infection } : null },
    sliceLesionThreshold: a.sliceLesionThreshold,
    minInfectedSliceAreaMm2: a.minInfectedSliceAreaMm2 ?? 0,
    infectionPixelThreshold: a.infectionPixelThreshold ?? 0,
    slicesReused: a.slicesReused ?? 0,
    models: modelsToWire(a.models, system.patientKind),
    executionProvider: a.executionProvider,
    timings: Object.entries(a.timingsMs).map(([stage, ms]) => ({ stage, ms })),
    contentHash: system.contentHash,
    systemName: system.systemName,
    systemVersion: system.systemVersion,
  };
}

function infectionFromWire(i: InfectionResult__Output): NonNullable<PatientResult['infection']> {
  const decision = i.decision === 'present' ? 'present' : i.decision === 'indeterminate' ? 'indeterminate' : 'absent';
  return { decision, fraction: i.fraction, infectedMl: i.infectedMl, lungMl: i.lungMl, urgentFraction: i.urgentFraction };
}

/** AnalyzeResponse -> Analysis (the contract the rest of the system consumes). */
export function responseToAnalysis(r: AnalyzeResponse__Output): Analysis {
  if (!r.patient) throw LtError.internal('inference worker answered without a patient result');
  return {
    classes: labelsFromWire(r.classes),
    positiveClass: r.positiveClass,
    lesionTypes: labelsFromWire(r.lesionTypes),
    slices: r.slices.map((s) => ({
      index: s.index,
      lesionProbability: s.lesionProbability,
      classProbabilities: [...s.classProbabilities],
      lesionTypeProbabilities: [...s.lesionTypeProbabilities],
      lesionMap: new Uint8Array(s.lesionMap),
      mapWidth: s.mapWidth,
      mapHeight: s.mapHeight,
      cropBox: s.cropBox ? { x: s.cropBox.x, y: s.cropBox.y, width: s.cropBox.width, height: s.cropBox.height } : { x: 0, y: 0, width: 0, height: 0 },
      lungAreaMm2: s.lungAreaMm2,
      infectedAreaMm2: s.infectedAreaMm2,
      imageLeftLungAreaMm2: s.imageLeftLungAreaMm2,
      imageLeftInfectedAreaMm2: s.imageLeftInfectedAreaMm2,
      infectionProbability: s.infectionProbability,
    })),
    patient: {
      classProbabilities: [...r.patient.classProbabilities],
      label: r.patient.label,
      positiveProbability: r.patient.positiveProbability,
      threshold: r.patient.threshold,
      decision: r.patient.decision === 'positive' ? 'positive' : r.patient.decision === 'indeterminate' ? 'indeterminate' : 'negative',
      ...(r.patient.infection ? { infection: infectionFromWire(r.patient.infection) } : {}),
    },
    sliceLesionThreshold: r.sliceLesionThreshold,
    ...(r.patient.infection ? { minInfectedSliceAreaMm2: r.minInfectedSliceAreaMm2, infectionPixelThreshold: r.infectionPixelThreshold } : {}),
    models: r.models.map(modelFromWire),
    executionProvider: r.executionProvider,
    timingsMs: Object.fromEntries(r.timings.map((t) => [t.stage, t.ms])),
    slicesReused: r.slicesReused,
  };
}

/** The worker's ListModels answer. */
export function listModelsResponse(
  w: Omit<WorkerModels, 'address' | 'models' | 'systemName' | 'systemVersion'> & { models: ModelIdentity[] },
  system: WorkerSystem,
): ListModelsResponse {
  return {
    models: modelsToWire(w.models, system.patientKind),
    executionProvider: w.executionProvider,
    systemName: system.systemName,
    systemVersion: system.systemVersion,
    maxConcurrent: w.maxConcurrent,
    maxSlices: w.maxSlices,
    activeCalls: w.activeCalls,
    classes: labelsToWire(w.classes),
    lesionTypes: labelsToWire(w.lesionTypes),
  };
}

/** A ListModels answer as the client reports it, with the worker's address. */
export function workerModelsFromWire(address: string, r: ListModelsResponse__Output): WorkerModels {
  return {
    address,
    executionProvider: r.executionProvider,
    systemName: r.systemName,
    systemVersion: r.systemVersion,
    models: r.models.map((m) => ({ ...modelFromWire(m), kind: m.kind })),
    maxConcurrent: r.maxConcurrent,
    maxSlices: r.maxSlices,
    activeCalls: r.activeCalls,
    classes: labelsFromWire(r.classes),
    lesionTypes: labelsFromWire(r.lesionTypes),
  };
}
