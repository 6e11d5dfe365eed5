// Original file: proto/lungtriage/triage/v1/triage.proto


export interface GetStudyRequest {
  'studyInstanceUid'?: (string);
}

export interface GetStudyRequest__Output {
  'studyInstanceUid': (string);
}
