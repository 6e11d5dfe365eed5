// Original file: proto/lungtriage/inference/v1/inference.proto


export interface PatientResult {
  'classProbabilities'?: (number | string)[];
  'label'?: (string);
  'positiveProbability'?: (number | string);
  'threshold'?: (number | string);
  /**
   * "positive" when positive_probability >= threshold, else "negative".
   */
  'decision'?: (string);
}

export interface PatientResult__Output {
  'classProbabilities': (number)[];
  'label': (string);
  'positiveProbability': (number);
  'threshold': (number);
  /**
   * "positive" when positive_probability >= threshold, else "negative".
   */
  'decision': (string);
}
