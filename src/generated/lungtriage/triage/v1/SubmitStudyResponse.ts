// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Long } from '@grpc/proto-loader';

export interface SubmitStudyResponse {
  'studyInstanceUid'?: (string);
  'jobId'?: (number | string | Long);
  'state'?: (string);
  'instancesRetrieved'?: (number);
}

export interface SubmitStudyResponse__Output {
  'studyInstanceUid': (string);
  'jobId': (string);
  'state': (string);
  'instancesRetrieved': (number);
}
