// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Long } from '@grpc/proto-loader';

export interface GetAuditTrailRequest {
  'studyInstanceUid'?: (string);
  'afterId'?: (number | string | Long);
  'limit'?: (number);
}

export interface GetAuditTrailRequest__Output {
  'studyInstanceUid': (string);
  'afterId': (string);
  'limit': (number);
}
