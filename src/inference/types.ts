import type { Code } from '../dicom/code';
/** Code moved to src/dicom/code.ts (a DICOM concept, not an inference one); re-exported for existing importers. */
export type { Code };

/** A model the worker ran, as identified in results (IHE AI Results: algorithm name and version). */
export interface ModelIdentity {
  role: 'slice' | 'patient';
  name: string;
  version: string;
  sha256: string;
}

/** What the slice model says about one slice of the volume (index matches HuVolume order). */
export interface SliceResult {
  index: number;
  lesionProbability: number;
  /** Softmax over the manifest's classes, same order as Analysis.classes. */
  classProbabilities: number[];
  /** Sigmoid per lesion type, same order as Analysis.lesionTypes. */
  lesionTypeProbabilities: number[];
  /**
   * Compact weakly-supervised lesion-location map over the slice's lung crop: values 0..255 (uint8),
   * mapWidth x mapHeight, row-major. cropBox says where the map lies in the full slice (pixels).
   */
  lesionMap: Uint8Array;
  mapWidth: number;
  mapHeight: number;
  cropBox: { x: number; y: number; width: number; height: number };
  /** Lung area on the slice (mm²; 0: no lung, so never a key slice and never counted). */
  lungAreaMm2: number;
  /** Infected area (mm²): the infection probability summed over the lung. */
  infectedAreaMm2: number;
  /** The same two on the image's left half of the lung crop (the patient's right in a standard axial image). */
  imageLeftLungAreaMm2: number;
  imageLeftInfectedAreaMm2: number;
  /** Highest infection probability in the lung (0..1). */
  infectionProbability: number;
}

/** A class or lesion type as the model manifest declares it. */
export interface LabelInfo {
  label: string;
  display: string;
  code: Code | null;
}

/** The patient-level assessment over all slices. */
export interface PatientResult {
  classProbabilities: number[];
  /** The label of the most likely class. */
  label: string;
  /** Probability of the manifest's positive class. */
  positiveProbability: number;
  /** The operating threshold on positiveProbability (chosen on validation for sensitivity >= 0.90). */
  threshold: number;
  /**
   * Models 2.0: 'positive' when infection is present (the triage answer), 'indeterminate' in the band below,
   * else 'negative'. Older models: 'positive' when positiveProbability >= threshold.
   */
  decision: 'positive' | 'indeterminate' | 'negative';
  /** The volume evidence behind the decision (models with an infection map). */
  infection?: {
    decision: 'present' | 'indeterminate' | 'absent';
    /** Infected share of the lung (0..1). */
    fraction: number;
    infectedMl: number;
    lungMl: number;
    /** URGENT from this share of the lung. */
    urgentFraction: number;
  };
}

/** Everything the results stage needs from inference. */
export interface Analysis {
  classes: LabelInfo[];
  positiveClass: string;
  lesionTypes: LabelInfo[];
  slices: SliceResult[];
  patient: PatientResult;
  sliceLesionThreshold: number;
  /** Models 2.0: a slice counts as infected from this infected area (mm²). */
  minInfectedSliceAreaMm2?: number;
  /** Models 2.0: a lesion-map cell is infected from this probability (the infected areas count such cells). */
  infectionPixelThreshold?: number;
  models: ModelIdentity[];
  executionProvider: string;
  timingsMs: Record<string, number>;
  /** The source image of each slice (same order), attached by the pipeline for reports such as `analyze --json`. */
  sources?: { sopInstanceUid: string; instanceNumber?: number; positionMm: number }[];
  /** Slices whose results the engine had from an earlier analysis (its slice cache): the model did not run on them again. */
  slicesReused?: number;
  /** Set when the analysis was started during the study's quiet period (early inference) and the job used it. */
  startedEarly?: boolean;
}
