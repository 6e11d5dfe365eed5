// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Priority as _lungtriage_triage_v1_Priority, Priority__Output as _lungtriage_triage_v1_Priority__Output } from '../../../lungtriage/triage/v1/Priority';
import type { PatientAssessment as _lungtriage_triage_v1_PatientAssessment, PatientAssessment__Output as _lungtriage_triage_v1_PatientAssessment__Output } from '../../../lungtriage/triage/v1/PatientAssessment';
import type { Long } from '@grpc/proto-loader';

export interface Study {
  'studyInstanceUid'?: (string);
  /**
   * receiving | pulling | pull_failed | ready | selected | inferred | encoded | delivered | failed
   * (pulling: SubmitStudy or reconciliation is retrieving it from the PACS; pull_failed: the PACS no longer holds
   * it or none of its instances could be stored, see error)
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
  /**
   * While pulling (or after a failed pull): the instances the PACS listed; instance_count says how many are here.
   */
  'instancesExpected'?: (number);
}

export interface Study__Output {
  'studyInstanceUid': (string);
  /**
   * receiving | pulling | pull_failed | ready | selected | inferred | encoded | delivered | failed
   * (pulling: SubmitStudy or reconciliation is retrieving it from the PACS; pull_failed: the PACS no longer holds
   * it or none of its instances could be stored, see error)
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
  /**
   * While pulling (or after a failed pull): the instances the PACS listed; instance_count says how many are here.
   */
  'instancesExpected': (number);
}
