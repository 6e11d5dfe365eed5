// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Priority as _lungtriage_triage_v1_Priority, Priority__Output as _lungtriage_triage_v1_Priority__Output } from '../../../lungtriage/triage/v1/Priority';
import type { PatientAssessment as _lungtriage_triage_v1_PatientAssessment, PatientAssessment__Output as _lungtriage_triage_v1_PatientAssessment__Output } from '../../../lungtriage/triage/v1/PatientAssessment';
import type { Long } from '@grpc/proto-loader';

export interface TriageEvent {
  'eventId'?: (number | string | Long);
  /**
   * study.pulling (a pull was recorded; no job yet) | study.received (the study is complete, its job opened) |
   * study.recovered (reconciliation pulled a study that never reached us) | result.ready | result.withheld (the PACS
   * does not hold the study: results kept here) | study.not_applicable | study.failed (analysis or pull failed, see error)
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
   * study.pulling (a pull was recorded; no job yet) | study.received (the study is complete, its job opened) |
   * study.recovered (reconciliation pulled a study that never reached us) | result.ready | result.withheld (the PACS
   * does not hold the study: results kept here) | study.not_applicable | study.failed (analysis or pull failed, see error)
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
