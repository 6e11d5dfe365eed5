// Original file: proto/lungtriage/inference/v1/inference.proto


export interface CropBox {
  'x'?: (number);
  'y'?: (number);
  'width'?: (number);
  'height'?: (number);
}

export interface CropBox__Output {
  'x': (number);
  'y': (number);
  'width': (number);
  'height': (number);
}
