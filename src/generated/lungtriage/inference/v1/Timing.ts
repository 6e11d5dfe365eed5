// Original file: proto/lungtriage/inference/v1/inference.proto


export interface Timing {
  'stage'?: (string);
  'ms'?: (number | string);
}

export interface Timing__Output {
  'stage': (string);
  'ms': (number);
}
