// Original file: proto/lungtriage/inference/v1/inference.proto

import type { CropBox as _lungtriage_inference_v1_CropBox, CropBox__Output as _lungtriage_inference_v1_CropBox__Output } from '../../../lungtriage/inference/v1/CropBox';

export interface SliceResult {
  'index'?: (number);
  'lesionProbability'?: (number | string);
  /**
   * Softmax over AnalyzeResponse.classes, same order.
   */
  'classProbabilities'?: (number | string)[];
  /**
   * Sigmoid per AnalyzeResponse.lesion_types, same order.
   */
  'lesionTypeProbabilities'?: (number | string)[];
  /**
   * uint8 lesion map, map_width x map_height, row-major, over the crop box (0 = far from lesion, 255 = lesion-like).
   */
  'lesionMap'?: (Buffer | Uint8Array | string);
  'mapWidth'?: (number);
  'mapHeight'?: (number);
  'cropBox'?: (_lungtriage_inference_v1_CropBox | null);
}

export interface SliceResult__Output {
  'index': (number);
  'lesionProbability': (number);
  /**
   * Softmax over AnalyzeResponse.classes, same order.
   */
  'classProbabilities': (number)[];
  /**
   * Sigmoid per AnalyzeResponse.lesion_types, same order.
   */
  'lesionTypeProbabilities': (number)[];
  /**
   * uint8 lesion map, map_width x map_height, row-major, over the crop box (0 = far from lesion, 255 = lesion-like).
   */
  'lesionMap': (Buffer);
  'mapWidth': (number);
  'mapHeight': (number);
  'cropBox': (_lungtriage_inference_v1_CropBox__Output | null);
}
