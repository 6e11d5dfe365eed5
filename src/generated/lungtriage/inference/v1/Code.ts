// Original file: proto/lungtriage/inference/v1/inference.proto


export interface Code {
  'value'?: (string);
  'scheme'?: (string);
  'meaning'?: (string);
}

export interface Code__Output {
  'value': (string);
  'scheme': (string);
  'meaning': (string);
}
