// Original file: proto/lungtriage/triage/v1/triage.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetAuditTrailRequest as _lungtriage_triage_v1_GetAuditTrailRequest, GetAuditTrailRequest__Output as _lungtriage_triage_v1_GetAuditTrailRequest__Output } from '../../../lungtriage/triage/v1/GetAuditTrailRequest';
import type { GetAuditTrailResponse as _lungtriage_triage_v1_GetAuditTrailResponse, GetAuditTrailResponse__Output as _lungtriage_triage_v1_GetAuditTrailResponse__Output } from '../../../lungtriage/triage/v1/GetAuditTrailResponse';
import type { GetStudyRequest as _lungtriage_triage_v1_GetStudyRequest, GetStudyRequest__Output as _lungtriage_triage_v1_GetStudyRequest__Output } from '../../../lungtriage/triage/v1/GetStudyRequest';
import type { ListStudiesRequest as _lungtriage_triage_v1_ListStudiesRequest, ListStudiesRequest__Output as _lungtriage_triage_v1_ListStudiesRequest__Output } from '../../../lungtriage/triage/v1/ListStudiesRequest';
import type { ListStudiesResponse as _lungtriage_triage_v1_ListStudiesResponse, ListStudiesResponse__Output as _lungtriage_triage_v1_ListStudiesResponse__Output } from '../../../lungtriage/triage/v1/ListStudiesResponse';
import type { Study as _lungtriage_triage_v1_Study, Study__Output as _lungtriage_triage_v1_Study__Output } from '../../../lungtriage/triage/v1/Study';
import type { SubmitStudyRequest as _lungtriage_triage_v1_SubmitStudyRequest, SubmitStudyRequest__Output as _lungtriage_triage_v1_SubmitStudyRequest__Output } from '../../../lungtriage/triage/v1/SubmitStudyRequest';
import type { SubmitStudyResponse as _lungtriage_triage_v1_SubmitStudyResponse, SubmitStudyResponse__Output as _lungtriage_triage_v1_SubmitStudyResponse__Output } from '../../../lungtriage/triage/v1/SubmitStudyResponse';
import type { TriageEvent as _lungtriage_triage_v1_TriageEvent, TriageEvent__Output as _lungtriage_triage_v1_TriageEvent__Output } from '../../../lungtriage/triage/v1/TriageEvent';
import type { VerifyAuditRequest as _lungtriage_triage_v1_VerifyAuditRequest, VerifyAuditRequest__Output as _lungtriage_triage_v1_VerifyAuditRequest__Output } from '../../../lungtriage/triage/v1/VerifyAuditRequest';
import type { VerifyAuditResponse as _lungtriage_triage_v1_VerifyAuditResponse, VerifyAuditResponse__Output as _lungtriage_triage_v1_VerifyAuditResponse__Output } from '../../../lungtriage/triage/v1/VerifyAuditResponse';
import type { WatchEventsRequest as _lungtriage_triage_v1_WatchEventsRequest, WatchEventsRequest__Output as _lungtriage_triage_v1_WatchEventsRequest__Output } from '../../../lungtriage/triage/v1/WatchEventsRequest';

export interface TriageServiceClient extends grpc.Client {
  /**
   * The audit records, oldest first, optionally for one study.
   */
  GetAuditTrail(argument: _lungtriage_triage_v1_GetAuditTrailRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_GetAuditTrailResponse__Output>): grpc.ClientUnaryCall;
  GetAuditTrail(argument: _lungtriage_triage_v1_GetAuditTrailRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_triage_v1_GetAuditTrailResponse__Output>): grpc.ClientUnaryCall;
  GetAuditTrail(argument: _lungtriage_triage_v1_GetAuditTrailRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_GetAuditTrailResponse__Output>): grpc.ClientUnaryCall;
  GetAuditTrail(argument: _lungtriage_triage_v1_GetAuditTrailRequest, callback: grpc.requestCallback<_lungtriage_triage_v1_GetAuditTrailResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The audit records, oldest first, optionally for one study.
   */
  getAuditTrail(argument: _lungtriage_triage_v1_GetAuditTrailRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_GetAuditTrailResponse__Output>): grpc.ClientUnaryCall;
  getAuditTrail(argument: _lungtriage_triage_v1_GetAuditTrailRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_triage_v1_GetAuditTrailResponse__Output>): grpc.ClientUnaryCall;
  getAuditTrail(argument: _lungtriage_triage_v1_GetAuditTrailRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_GetAuditTrailResponse__Output>): grpc.ClientUnaryCall;
  getAuditTrail(argument: _lungtriage_triage_v1_GetAuditTrailRequest, callback: grpc.requestCallback<_lungtriage_triage_v1_GetAuditTrailResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * The current state and result of one study. NOT_FOUND if never received.
   */
  GetStudy(argument: _lungtriage_triage_v1_GetStudyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_Study__Output>): grpc.ClientUnaryCall;
  GetStudy(argument: _lungtriage_triage_v1_GetStudyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_triage_v1_Study__Output>): grpc.ClientUnaryCall;
  GetStudy(argument: _lungtriage_triage_v1_GetStudyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_Study__Output>): grpc.ClientUnaryCall;
  GetStudy(argument: _lungtriage_triage_v1_GetStudyRequest, callback: grpc.requestCallback<_lungtriage_triage_v1_Study__Output>): grpc.ClientUnaryCall;
  /**
   * The current state and result of one study. NOT_FOUND if never received.
   */
  getStudy(argument: _lungtriage_triage_v1_GetStudyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_Study__Output>): grpc.ClientUnaryCall;
  getStudy(argument: _lungtriage_triage_v1_GetStudyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_triage_v1_Study__Output>): grpc.ClientUnaryCall;
  getStudy(argument: _lungtriage_triage_v1_GetStudyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_Study__Output>): grpc.ClientUnaryCall;
  getStudy(argument: _lungtriage_triage_v1_GetStudyRequest, callback: grpc.requestCallback<_lungtriage_triage_v1_Study__Output>): grpc.ClientUnaryCall;
  
  /**
   * Studies, newest first, filtered by state, minimum priority and receive time.
   */
  ListStudies(argument: _lungtriage_triage_v1_ListStudiesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_ListStudiesResponse__Output>): grpc.ClientUnaryCall;
  ListStudies(argument: _lungtriage_triage_v1_ListStudiesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_triage_v1_ListStudiesResponse__Output>): grpc.ClientUnaryCall;
  ListStudies(argument: _lungtriage_triage_v1_ListStudiesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_ListStudiesResponse__Output>): grpc.ClientUnaryCall;
  ListStudies(argument: _lungtriage_triage_v1_ListStudiesRequest, callback: grpc.requestCallback<_lungtriage_triage_v1_ListStudiesResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Studies, newest first, filtered by state, minimum priority and receive time.
   */
  listStudies(argument: _lungtriage_triage_v1_ListStudiesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_ListStudiesResponse__Output>): grpc.ClientUnaryCall;
  listStudies(argument: _lungtriage_triage_v1_ListStudiesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_triage_v1_ListStudiesResponse__Output>): grpc.ClientUnaryCall;
  listStudies(argument: _lungtriage_triage_v1_ListStudiesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_ListStudiesResponse__Output>): grpc.ClientUnaryCall;
  listStudies(argument: _lungtriage_triage_v1_ListStudiesRequest, callback: grpc.requestCallback<_lungtriage_triage_v1_ListStudiesResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Pulls a study from the PACS (WADO-RS) and queues it for triage: a long-running operation. It answers as soon
   * as the PACS has listed the study (NOT_FOUND if it holds none, UNAVAILABLE if it does not answer) and the pull
   * is recorded (state "pulling"); the instances are retrieved in the background, surviving a gateway restart.
   * Progress: GetStudy (instance_count of instances_expected) and WatchEvents (study.pulling, then study.received
   * with the job when the pull is complete, or study.failed). Idempotent per study: asking while it is pulled
   * changes nothing.
   */
  SubmitStudy(argument: _lungtriage_triage_v1_SubmitStudyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_SubmitStudyResponse__Output>): grpc.ClientUnaryCall;
  SubmitStudy(argument: _lungtriage_triage_v1_SubmitStudyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_triage_v1_SubmitStudyResponse__Output>): grpc.ClientUnaryCall;
  SubmitStudy(argument: _lungtriage_triage_v1_SubmitStudyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_SubmitStudyResponse__Output>): grpc.ClientUnaryCall;
  SubmitStudy(argument: _lungtriage_triage_v1_SubmitStudyRequest, callback: grpc.requestCallback<_lungtriage_triage_v1_SubmitStudyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Pulls a study from the PACS (WADO-RS) and queues it for triage: a long-running operation. It answers as soon
   * as the PACS has listed the study (NOT_FOUND if it holds none, UNAVAILABLE if it does not answer) and the pull
   * is recorded (state "pulling"); the instances are retrieved in the background, surviving a gateway restart.
   * Progress: GetStudy (instance_count of instances_expected) and WatchEvents (study.pulling, then study.received
   * with the job when the pull is complete, or study.failed). Idempotent per study: asking while it is pulled
   * changes nothing.
   */
  submitStudy(argument: _lungtriage_triage_v1_SubmitStudyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_SubmitStudyResponse__Output>): grpc.ClientUnaryCall;
  submitStudy(argument: _lungtriage_triage_v1_SubmitStudyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_triage_v1_SubmitStudyResponse__Output>): grpc.ClientUnaryCall;
  submitStudy(argument: _lungtriage_triage_v1_SubmitStudyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_SubmitStudyResponse__Output>): grpc.ClientUnaryCall;
  submitStudy(argument: _lungtriage_triage_v1_SubmitStudyRequest, callback: grpc.requestCallback<_lungtriage_triage_v1_SubmitStudyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Walks the audit hash chain and names the first altered row.
   */
  VerifyAudit(argument: _lungtriage_triage_v1_VerifyAuditRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_VerifyAuditResponse__Output>): grpc.ClientUnaryCall;
  VerifyAudit(argument: _lungtriage_triage_v1_VerifyAuditRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_triage_v1_VerifyAuditResponse__Output>): grpc.ClientUnaryCall;
  VerifyAudit(argument: _lungtriage_triage_v1_VerifyAuditRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_VerifyAuditResponse__Output>): grpc.ClientUnaryCall;
  VerifyAudit(argument: _lungtriage_triage_v1_VerifyAuditRequest, callback: grpc.requestCallback<_lungtriage_triage_v1_VerifyAuditResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Walks the audit hash chain and names the first altered row.
   */
  verifyAudit(argument: _lungtriage_triage_v1_VerifyAuditRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_VerifyAuditResponse__Output>): grpc.ClientUnaryCall;
  verifyAudit(argument: _lungtriage_triage_v1_VerifyAuditRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_lungtriage_triage_v1_VerifyAuditResponse__Output>): grpc.ClientUnaryCall;
  verifyAudit(argument: _lungtriage_triage_v1_VerifyAuditRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_lungtriage_triage_v1_VerifyAuditResponse__Output>): grpc.ClientUnaryCall;
  verifyAudit(argument: _lungtriage_triage_v1_VerifyAuditRequest, callback: grpc.requestCallback<_lungtriage_triage_v1_VerifyAuditResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * A live stream of triage events. Within each batch urgent results come first. Resume with the last
   * resume_after_id you processed; no event is lost or repeated across a resume.
   */
  WatchEvents(argument: _lungtriage_triage_v1_WatchEventsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_lungtriage_triage_v1_TriageEvent__Output>;
  WatchEvents(argument: _lungtriage_triage_v1_WatchEventsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_lungtriage_triage_v1_TriageEvent__Output>;
  /**
   * A live stream of triage events. Within each batch urgent results come first. Resume with the last
   * resume_after_id you processed; no event is lost or repeated across a resume.
   */
  watchEvents(argument: _lungtriage_triage_v1_WatchEventsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_lungtriage_triage_v1_TriageEvent__Output>;
  watchEvents(argument: _lungtriage_triage_v1_WatchEventsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_lungtriage_triage_v1_TriageEvent__Output>;
  
}

export interface TriageServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * The audit records, oldest first, optionally for one study.
   */
  GetAuditTrail: grpc.handleUnaryCall<_lungtriage_triage_v1_GetAuditTrailRequest__Output, _lungtriage_triage_v1_GetAuditTrailResponse>;
  
  /**
   * The current state and result of one study. NOT_FOUND if never received.
   */
  GetStudy: grpc.handleUnaryCall<_lungtriage_triage_v1_GetStudyRequest__Output, _lungtriage_triage_v1_Study>;
  
  /**
   * Studies, newest first, filtered by state, minimum priority and receive time.
   */
  ListStudies: grpc.handleUnaryCall<_lungtriage_triage_v1_ListStudiesRequest__Output, _lungtriage_triage_v1_ListStudiesResponse>;
  
  /**
   * Pulls a study from the PACS (WADO-RS) and queues it for triage: a long-running operation. It answers as soon
   * as the PACS has listed the study (NOT_FOUND if it holds none, UNAVAILABLE if it does not answer) and the pull
   * is recorded (state "pulling"); the instances are retrieved in the background, surviving a gateway restart.
   * Progress: GetStudy (instance_count of instances_expected) and WatchEvents (study.pulling, then study.received
   * with the job when the pull is complete, or study.failed). Idempotent per study: asking while it is pulled
   * changes nothing.
   */
  SubmitStudy: grpc.handleUnaryCall<_lungtriage_triage_v1_SubmitStudyRequest__Output, _lungtriage_triage_v1_SubmitStudyResponse>;
  
  /**
   * Walks the audit hash chain and names the first altered row.
   */
  VerifyAudit: grpc.handleUnaryCall<_lungtriage_triage_v1_VerifyAuditRequest__Output, _lungtriage_triage_v1_VerifyAuditResponse>;
  
  /**
   * A live stream of triage events. Within each batch urgent results come first. Resume with the last
   * resume_after_id you processed; no event is lost or repeated across a resume.
   */
  WatchEvents: grpc.handleServerStreamingCall<_lungtriage_triage_v1_WatchEventsRequest__Output, _lungtriage_triage_v1_TriageEvent>;
  
}

export interface TriageServiceDefinition extends grpc.ServiceDefinition {
  GetAuditTrail: MethodDefinition<_lungtriage_triage_v1_GetAuditTrailRequest, _lungtriage_triage_v1_GetAuditTrailResponse, _lungtriage_triage_v1_GetAuditTrailRequest__Output, _lungtriage_triage_v1_GetAuditTrailResponse__Output>
  GetStudy: MethodDefinition<_lungtriage_triage_v1_GetStudyRequest, _lungtriage_triage_v1_Study, _lungtriage_triage_v1_GetStudyRequest__Output, _lungtriage_triage_v1_Study__Output>
  ListStudies: MethodDefinition<_lungtriage_triage_v1_ListStudiesRequest, _lungtriage_triage_v1_ListStudiesResponse, _lungtriage_triage_v1_ListStudiesRequest__Output, _lungtriage_triage_v1_ListStudiesResponse__Output>
  SubmitStudy: MethodDefinition<_lungtriage_triage_v1_SubmitStudyRequest, _lungtriage_triage_v1_SubmitStudyResponse, _lungtriage_triage_v1_SubmitStudyRequest__Output, _lungtriage_triage_v1_SubmitStudyResponse__Output>
  VerifyAudit: MethodDefinition<_lungtriage_triage_v1_VerifyAuditRequest, _lungtriage_triage_v1_VerifyAuditResponse, _lungtriage_triage_v1_VerifyAuditRequest__Output, _lungtriage_triage_v1_VerifyAuditResponse__Output>
  WatchEvents: MethodDefinition<_lungtriage_triage_v1_WatchEventsRequest, _lungtriage_triage_v1_TriageEvent, _lungtriage_triage_v1_WatchEventsRequest__Output, _lungtriage_triage_v1_TriageEvent__Output>
}
