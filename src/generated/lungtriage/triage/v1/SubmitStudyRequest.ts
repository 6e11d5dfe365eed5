// Original file: proto/lungtriage/triage/v1/triage.proto


export interface SubmitStudyRequest {
  'studyInstanceUid'?: (string);
}

export interface SubmitStudyRequest__Output {
  'studyInstanceUid': (string);
}
