// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Long } from '@grpc/proto-loader';

export interface VerifyAuditResponse {
  'ok'?: (boolean);
  'rows'?: (number | string | Long);
  'headHash'?: (string);
  'firstBadId'?: (number | string | Long);
  'problem'?: (string);
}

export interface VerifyAuditResponse__Output {
  'ok': (boolean);
  'rows': (string);
  'headHash': (string);
  'firstBadId': (string);
  'problem': (string);
}
