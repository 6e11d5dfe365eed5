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
   * uint8 map, map_width x map_height, row-major, over the crop box. Models 2.0: the calibrated infection
   * probability x 255 (absolute, 0 outside the lung); older models: a lesion-likeness map.
   */
  'lesionMap'?: (Buffer | Uint8Array | string);
  'mapWidth'?: (number);
  'mapHeight'?: (number);
  'cropBox'?: (_lungtriage_inference_v1_CropBox | null);
  /**
   * Lung area of the slice in mm² (0: no lung on it) and the infected area (infection probability summed over the lung).
   */
  'lungAreaMm2'?: (number | string);
  'infectedAreaMm2'?: (number | string);
  /**
   * The same on the image's left half of the lung crop (the patient's right in a standard axial image).
   */
  'imageLeftLungAreaMm2'?: (number | string);
  'imageLeftInfectedAreaMm2'?: (number | string);
  /**
   * Highest infection probability in the lung.
   */
  'infectionProbability'?: (number | string);
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
   * uint8 map, map_width x map_height, row-major, over the crop box. Models 2.0: the calibrated infection
   * probability x 255 (absolute, 0 outside the lung); older models: a lesion-likeness map.
   */
  'lesionMap': (Buffer);
  'mapWidth': (number);
  'mapHeight': (number);
  'cropBox': (_lungtriage_inference_v1_CropBox__Output | null);
  /**
   * Lung area of the slice in mm² (0: no lung on it) and the infected area (infection probability summed over the lung).
   */
  'lungAreaMm2': (number);
  'infectedAreaMm2': (number);
  /**
   * The same on the image's left half of the lung crop (the patient's right in a standard axial image).
   */
  'imageLeftLungAreaMm2': (number);
  'imageLeftInfectedAreaMm2': (number);
  /**
   * Highest infection probability in the lung.
   */
  'infectionProbability': (number);
}
