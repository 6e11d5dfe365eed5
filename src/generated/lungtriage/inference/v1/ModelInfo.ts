// Original file: proto/lungtriage/inference/v1/inference.proto


export interface ModelInfo {
  /**
   * "slice" or "patient".
   */
  'role'?: (string);
  'name'?: (string);
  'version'?: (string);
  'sha256'?: (string);
  /**
   * Patient model kind from the manifest (e.g. "attention-mil"); empty for the slice model.
   */
  'kind'?: (string);
}

export interface ModelInfo__Output {
  /**
   * "slice" or "patient".
   */
  'role': (string);
  'name': (string);
  'version': (string);
  'sha256': (string);
  /**
   * Patient model kind from the manifest (e.g. "attention-mil"); empty for the slice model.
   */
  'kind': (string);
}
