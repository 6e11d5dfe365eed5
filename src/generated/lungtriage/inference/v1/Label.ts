// Original file: proto/lungtriage/inference/v1/inference.proto

import type { Code as _lungtriage_inference_v1_Code, Code__Output as _lungtriage_inference_v1_Code__Output } from '../../../lungtriage/inference/v1/Code';

export interface Label {
  'label'?: (string);
  'display'?: (string);
  /**
   * Absent when the manifest gives no code (null).
   */
  'code'?: (_lungtriage_inference_v1_Code | null);
}

export interface Label__Output {
  'label': (string);
  'display': (string);
  /**
   * Absent when the manifest gives no code (null).
   */
  'code': (_lungtriage_inference_v1_Code__Output | null);
}
