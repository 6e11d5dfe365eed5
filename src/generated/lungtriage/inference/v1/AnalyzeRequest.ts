// Original file: proto/lungtriage/inference/v1/inference.proto

import type { VolumeHeader as _lungtriage_inference_v1_VolumeHeader, VolumeHeader__Output as _lungtriage_inference_v1_VolumeHeader__Output } from '../../../lungtriage/inference/v1/VolumeHeader';
import type { VolumeChunk as _lungtriage_inference_v1_VolumeChunk, VolumeChunk__Output as _lungtriage_inference_v1_VolumeChunk__Output } from '../../../lungtriage/inference/v1/VolumeChunk';

export interface AnalyzeRequest {
  'header'?: (_lungtriage_inference_v1_VolumeHeader | null);
  'chunk'?: (_lungtriage_inference_v1_VolumeChunk | null);
  'part'?: "header"|"chunk";
}

export interface AnalyzeRequest__Output {
  'header'?: (_lungtriage_inference_v1_VolumeHeader__Output | null);
  'chunk'?: (_lungtriage_inference_v1_VolumeChunk__Output | null);
  'part'?: "header"|"chunk";
}
