// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Priority as _lungtriage_triage_v1_Priority, Priority__Output as _lungtriage_triage_v1_Priority__Output } from '../../../lungtriage/triage/v1/Priority';
import type { PatientAssessment as _lungtriage_triage_v1_PatientAssessment, PatientAssessment__Output as _lungtriage_triage_v1_PatientAssessment__Output } from '../../../lungtriage/triage/v1/PatientAssessment';
import type { Long } from '@grpc/proto-loader';

export interface Study {
  'studyInstanceUid'?: (string);
  /**
   * receiving | ready | selected | inferred | encoded | delivered | failed
   */
  'state'?: (string);
  'instanceCount'?: (number);
  'jobId'?: (number | string | Long);
  'priority'?: (_lungtriage_triage_v1_Priority);
  'assessment'?: (_lungtriage_triage_v1_PatientAssessment | null);
  'error'?: (string);
  'receivedAt'?: (string);
  'updatedAt'?: (string);
  'stageSeconds'?: ({[key: string]: number | string});
  'resultSopInstanceUids'?: (string)[];
  'seriesInstanceUid'?: (string);
  'modelVersion'?: (string);
}

export interface Study__Output {
  'studyInstanceUid': (string);
  /**
   * receiving | ready | selected | inferred | encoded | delivered | failed
   */
  'state': (string);
  'instanceCount': (number);
  'jobId': (string);
  'priority': (_lungtriage_triage_v1_Priority__Output);
  'assessment': (_lungtriage_triage_v1_PatientAssessment__Output | null);
  'error': (string);
  'receivedAt': (string);
  'updatedAt': (string);
  'stageSeconds': ({[key: string]: number});
  'resultSopInstanceUids': (string)[];
  'seriesInstanceUid': (string);
  'modelVersion': (string);
}
