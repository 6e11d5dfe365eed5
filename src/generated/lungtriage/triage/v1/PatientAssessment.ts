// Original file: proto/lungtriage/triage/v1/triage.proto


export interface PatientAssessment {
  'label'?: (string);
  'positiveProbability'?: (number | string);
  'threshold'?: (number | string);
  'decision'?: (string);
  'classProbabilities'?: ({[key: string]: number | string});
}

export interface PatientAssessment__Output {
  'label': (string);
  'positiveProbability': (number);
  'threshold': (number);
  'decision': (string);
  'classProbabilities': ({[key: string]: number});
}
