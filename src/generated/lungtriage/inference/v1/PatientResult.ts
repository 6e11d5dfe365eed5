// Original file: proto/lungtriage/inference/v1/inference.proto

import type { InfectionResult as _lungtriage_inference_v1_InfectionResult, InfectionResult__Output as _lungtriage_inference_v1_InfectionResult__Output } from '../../../lungtriage/inference/v1/InfectionResult';

export interface PatientResult {
  'classProbabilities'?: (number | string)[];
  'label'?: (string);
  'positiveProbability'?: (number | string);
  'threshold'?: (number | string);
  /**
   * Models 2.0: "positive" when infection is present, "indeterminate" in the band below it, else "negative" (older
   * models: "positive" when positive_probability >= threshold).
   */
  'decision'?: (string);
  'infection'?: (_lungtriage_inference_v1_InfectionResult | null);
}

export interface PatientResult__Output {
  'classProbabilities': (number)[];
  'label': (string);
  'positiveProbability': (number);
  'threshold': (number);
  /**
   * Models 2.0: "positive" when infection is present, "indeterminate" in the band below it, else "negative" (older
   * models: "positive" when positive_probability >= threshold).
   */
  'decision': (string);
  'infection': (_lungtriage_inference_v1_InfectionResult__Output | null);
}
