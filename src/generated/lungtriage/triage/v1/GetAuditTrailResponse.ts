// Original file: proto/lungtriage/triage/v1/triage.proto

import type { AuditRecord as _lungtriage_triage_v1_AuditRecord, AuditRecord__Output as _lungtriage_triage_v1_AuditRecord__Output } from '../../../lungtriage/triage/v1/AuditRecord';

export interface GetAuditTrailResponse {
  'records'?: (_lungtriage_triage_v1_AuditRecord)[];
}

export interface GetAuditTrailResponse__Output {
  'records': (_lungtriage_triage_v1_AuditRecord__Output)[];
}
