// Original file: proto/lungtriage/inference/v1/inference.proto

import type { Label as _lungtriage_inference_v1_Label, Label__Output as _lungtriage_inference_v1_Label__Output } from '../../../lungtriage/inference/v1/Label';
import type { SliceResult as _lungtriage_inference_v1_SliceResult, SliceResult__Output as _lungtriage_inference_v1_SliceResult__Output } from '../../../lungtriage/inference/v1/SliceResult';
import type { PatientResult as _lungtriage_inference_v1_PatientResult, PatientResult__Output as _lungtriage_inference_v1_PatientResult__Output } from '../../../lungtriage/inference/v1/PatientResult';
import type { ModelInfo as _lungtriage_inference_v1_ModelInfo, ModelInfo__Output as _lungtriage_inference_v1_ModelInfo__Output } from '../../../lungtriage/inference/v1/ModelInfo';
import type { Timing as _lungtriage_inference_v1_Timing, Timing__Output as _lungtriage_inference_v1_Timing__Output } from '../../../lungtriage/inference/v1/Timing';

export interface AnalyzeResponse {
  'classes'?: (_lungtriage_inference_v1_Label)[];
  'positiveClass'?: (string);
  'lesionTypes'?: (_lungtriage_inference_v1_Label)[];
  'slices'?: (_lungtriage_inference_v1_SliceResult)[];
  'patient'?: (_lungtriage_inference_v1_PatientResult | null);
  'sliceLesionThreshold'?: (number | string);
  'models'?: (_lungtriage_inference_v1_ModelInfo)[];
  /**
   * "cuda" or "cpu".
   */
  'executionProvider'?: (string);
  'timings'?: (_lungtriage_inference_v1_Timing)[];
  /**
   * Echo of VolumeHeader.content_hash.
   */
  'contentHash'?: (string);
  /**
   * Manifest system name and version (e.g. "mlung-sys" "1.0.0").
   */
  'systemName'?: (string);
  'systemVersion'?: (string);
  /**
   * Models 2.0: a slice counts as infected from this infected area (mm²); 0 for older models.
   */
  'minInfectedSliceAreaMm2'?: (number | string);
  /**
   * Models 2.0: a lesion-map cell is infected from this probability (manifest infection.pixelThreshold); 0 for older models.
   */
  'infectionPixelThreshold'?: (number | string);
  /**
   * Slices whose results the worker had already computed for an earlier call (its slice cache, LT_WORKER_SLICE_CACHE):
   * the same numbers, without running the model on them again.
   */
  'slicesReused'?: (number);
}

export interface AnalyzeResponse__Output {
  'classes': (_lungtriage_inference_v1_Label__Output)[];
  'positiveClass': (string);
  'lesionTypes': (_lungtriage_inference_v1_Label__Output)[];
  'slices': (_lungtriage_inference_v1_SliceResult__Output)[];
  'patient': (_lungtriage_inference_v1_PatientResult__Output | null);
  'sliceLesionThreshold': (number);
  'models': (_lungtriage_inference_v1_ModelInfo__Output)[];
  /**
   * "cuda" or "cpu".
   */
  'executionProvider': (string);
  'timings': (_lungtriage_inference_v1_Timing__Output)[];
  /**
   * Echo of VolumeHeader.content_hash.
   */
  'contentHash': (string);
  /**
   * Manifest system name and version (e.g. "mlung-sys" "1.0.0").
   */
  'systemName': (string);
  'systemVersion': (string);
  /**
   * Models 2.0: a slice counts as infected from this infected area (mm²); 0 for older models.
   */
  'minInfectedSliceAreaMm2': (number);
  /**
   * Models 2.0: a lesion-map cell is infected from this probability (manifest infection.pixelThreshold); 0 for older models.
   */
  'infectionPixelThreshold': (number);
  /**
   * Slices whose results the worker had already computed for an earlier call (its slice cache, LT_WORKER_SLICE_CACHE):
   * the same numbers, without running the model on them again.
   */
  'slicesReused': (number);
}
