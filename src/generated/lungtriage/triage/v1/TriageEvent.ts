// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Priority as _lungtriage_triage_v1_Priority, Priority__Output as _lungtriage_triage_v1_Priority__Output } from '../../../lungtriage/triage/v1/Priority';
import type { PatientAssessment as _lungtriage_triage_v1_PatientAssessment, PatientAssessment__Output as _lungtriage_triage_v1_PatientAssessment__Output } from '../../../lungtriage/triage/v1/PatientAssessment';
import type { Long } from '@grpc/proto-loader';

export interface TriageEvent {
  'eventId'?: (number | string | Long);
  /**
   * study.received | result.ready | study.failed
   */
  'kind'?: (string);
  'studyInstanceUid'?: (string);
  'priority'?: (_lungtriage_triage_v1_Priority);
  'at'?: (string);
  'jobId'?: (number | string | Long);
  /**
   * Safe point to resume from after processing this event.
   */
  'resumeAfterId'?: (number | string | Long);
  'assessment'?: (_lungtriage_triage_v1_PatientAssessment | null);
  'error'?: (string);
}

export interface TriageEvent__Output {
  'eventId': (string);
  /**
   * study.received | result.ready | study.failed
   */
  'kind': (string);
  'studyInstanceUid': (string);
  'priority': (_lungtriage_triage_v1_Priority__Output);
  'at': (string);
  'jobId': (string);
  /**
   * Safe point to resume from after processing this event.
   */
  'resumeAfterId': (string);
  'assessment': (_lungtriage_triage_v1_PatientAssessment__Output | null);
  'error': (string);
}
