// Original file: proto/lungtriage/inference/v1/inference.proto

import type { ModelInfo as _lungtriage_inference_v1_ModelInfo, ModelInfo__Output as _lungtriage_inference_v1_ModelInfo__Output } from '../../../lungtriage/inference/v1/ModelInfo';
import type { Label as _lungtriage_inference_v1_Label, Label__Output as _lungtriage_inference_v1_Label__Output } from '../../../lungtriage/inference/v1/Label';

export interface ListModelsResponse {
  'models'?: (_lungtriage_inference_v1_ModelInfo)[];
  'executionProvider'?: (string);
  'systemName'?: (string);
  'systemVersion'?: (string);
  'maxConcurrent'?: (number);
  'maxSlices'?: (number);
  'activeCalls'?: (number);
  'classes'?: (_lungtriage_inference_v1_Label)[];
  'lesionTypes'?: (_lungtriage_inference_v1_Label)[];
}

export interface ListModelsResponse__Output {
  'models': (_lungtriage_inference_v1_ModelInfo__Output)[];
  'executionProvider': (string);
  'systemName': (string);
  'systemVersion': (string);
  'maxConcurrent': (number);
  'maxSlices': (number);
  'activeCalls': (number);
  'classes': (_lungtriage_inference_v1_Label__Output)[];
  'lesionTypes': (_lungtriage_inference_v1_Label__Output)[];
}
