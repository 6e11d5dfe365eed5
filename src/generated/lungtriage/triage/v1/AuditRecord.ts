// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Long } from '@grpc/proto-loader';

export interface AuditRecord {
  'id'?: (number | string | Long);
  'at'?: (string);
  'actor'?: (string);
  'action'?: (string);
  'outcome'?: (string);
  'studyInstanceUid'?: (string);
  'objectUids'?: (string)[];
  'detailJson'?: (string);
  'prevHash'?: (string);
  'hash'?: (string);
}

export interface AuditRecord__Output {
  'id': (string);
  'at': (string);
  'actor': (string);
  'action': (string);
  'outcome': (string);
  'studyInstanceUid': (string);
  'objectUids': (string)[];
  'detailJson': (string);
  'prevHash': (string);
  'hash': (string);
}
