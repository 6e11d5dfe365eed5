import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { AuditRecord as _lungtriage_triage_v1_AuditRecord, AuditRecord__Output as _lungtriage_triage_v1_AuditRecord__Output } from './lungtriage/triage/v1/AuditRecord';
import type { GetAuditTrailRequest as _lungtriage_triage_v1_GetAuditTrailRequest, GetAuditTrailRequest__Output as _lungtriage_triage_v1_GetAuditTrailRequest__Output } from './lungtriage/triage/v1/GetAuditTrailRequest';
import type { GetAuditTrailResponse as _lungtriage_triage_v1_GetAuditTrailResponse, GetAuditTrailResponse__Output as _lungtriage_triage_v1_GetAuditTrailResponse__Output } from './lungtriage/triage/v1/GetAuditTrailResponse';
import type { GetStudyRequest as _lungtriage_triage_v1_GetStudyRequest, GetStudyRequest__Output as _lungtriage_triage_v1_GetStudyRequest__Output } from './lungtriage/triage/v1/GetStudyRequest';
import type { ListStudiesRequest as _lungtriage_triage_v1_ListStudiesRequest, ListStudiesRequest__Output as _lungtriage_triage_v1_ListStudiesRequest__Output } from './lungtriage/triage/v1/ListStudiesRequest';
import type { ListStudiesResponse as _lungtriage_triage_v1_ListStudiesResponse, ListStudiesResponse__Output as _lungtriage_triage_v1_ListStudiesResponse__Output } from './lungtriage/triage/v1/ListStudiesResponse';
import type { PatientAssessment as _lungtriage_triage_v1_PatientAssessment, PatientAssessment__Output as _lungtriage_triage_v1_PatientAssessment__Output } from './lungtriage/triage/v1/PatientAssessment';
import type { Study as _lungtriage_triage_v1_Study, Study__Output as _lungtriage_triage_v1_Study__Output } from './lungtriage/triage/v1/Study';
import type { SubmitStudyRequest as _lungtriage_triage_v1_SubmitStudyRequest, SubmitStudyRequest__Output as _lungtriage_triage_v1_SubmitStudyRequest__Output } from './lungtriage/triage/v1/SubmitStudyRequest';
import type { SubmitStudyResponse as _lungtriage_triage_v1_SubmitStudyResponse, SubmitStudyResponse__Output as _lungtriage_triage_v1_SubmitStudyResponse__Output } from './lungtriage/triage/v1/SubmitStudyResponse';
import type { TriageEvent as _lungtriage_triage_v1_TriageEvent, TriageEvent__Output as _lungtriage_triage_v1_TriageEvent__Output } from './lungtriage/triage/v1/TriageEvent';
import type { TriageServiceClient as _lungtriage_triage_v1_TriageServiceClient, TriageServiceDefinition as _lungtriage_triage_v1_TriageServiceDefinition } from './lungtriage/triage/v1/TriageService';
import type { VerifyAuditRequest as _lungtriage_triage_v1_VerifyAuditRequest, VerifyAuditRequest__Output as _lungtriage_triage_v1_VerifyAuditRequest__Output } from './lungtriage/triage/v1/VerifyAuditRequest';
import type { VerifyAuditResponse as _lungtriage_triage_v1_VerifyAuditResponse, VerifyAuditResponse__Output as _lungtriage_triage_v1_VerifyAuditResponse__Output } from './lungtriage/triage/v1/VerifyAuditResponse';
import type { WatchEventsRequest as _lungtriage_triage_v1_WatchEventsRequest, WatchEventsRequest__Output as _lungtriage_triage_v1_WatchEventsRequest__Output } from './lungtriage/triage/v1/WatchEventsRequest';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  lungtriage: {
    triage: {
      v1: {
        AuditRecord: MessageTypeDefinition<_lungtriage_triage_v1_AuditRecord, _lungtriage_triage_v1_AuditRecord__Output>
        GetAuditTrailRequest: MessageTypeDefinition<_lungtriage_triage_v1_GetAuditTrailRequest, _lungtriage_triage_v1_GetAuditTrailRequest__Output>
        GetAuditTrailResponse: MessageTypeDefinition<_lungtriage_triage_v1_GetAuditTrailResponse, _lungtriage_triage_v1_GetAuditTrailResponse__Output>
        GetStudyRequest: MessageTypeDefinition<_lungtriage_triage_v1_GetStudyRequest, _lungtriage_triage_v1_GetStudyRequest__Output>
        ListStudiesRequest: MessageTypeDefinition<_lungtriage_triage_v1_ListStudiesRequest, _lungtriage_triage_v1_ListStudiesRequest__Output>
        ListStudiesResponse: MessageTypeDefinition<_lungtriage_triage_v1_ListStudiesResponse, _lungtriage_triage_v1_ListStudiesResponse__Output>
        PatientAssessment: MessageTypeDefinition<_lungtriage_triage_v1_PatientAssessment, _lungtriage_triage_v1_PatientAssessment__Output>
        Priority: EnumTypeDefinition
        Study: MessageTypeDefinition<_lungtriage_triage_v1_Study, _lungtriage_triage_v1_Study__Output>
        SubmitStudyRequest: MessageTypeDefinition<_lungtriage_triage_v1_SubmitStudyRequest, _lungtriage_triage_v1_SubmitStudyRequest__Output>
        SubmitStudyResponse: MessageTypeDefinition<_lungtriage_triage_v1_SubmitStudyResponse, _lungtriage_triage_v1_SubmitStudyResponse__Output>
        TriageEvent: MessageTypeDefinition<_lungtriage_triage_v1_TriageEvent, _lungtriage_triage_v1_TriageEvent__Output>
        TriageService: SubtypeConstructor<typeof grpc.Client, _lungtriage_triage_v1_TriageServiceClient> & { service: _lungtriage_triage_v1_TriageServiceDefinition }
        VerifyAuditRequest: MessageTypeDefinition<_lungtriage_triage_v1_VerifyAuditRequest, _lungtriage_triage_v1_VerifyAuditRequest__Output>
        VerifyAuditResponse: MessageTypeDefinition<_lungtriage_triage_v1_VerifyAuditResponse, _lungtriage_triage_v1_VerifyAuditResponse__Output>
        WatchEventsRequest: MessageTypeDefinition<_lungtriage_triage_v1_WatchEventsRequest, _lungtriage_triage_v1_WatchEventsRequest__Output>
      }
    }
  }
}

