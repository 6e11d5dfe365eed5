// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Long } from '@grpc/proto-loader';

export interface SubmitStudyResponse {
  'studyInstanceUid'?: (string);
  /**
   * 0: the job opens when the pull is complete (the study.received event carries it).
   */
  'jobId'?: (number | string | Long);
  /**
   * "pulling"
   */
  'state'?: (string);
  /**
   * 0: the retrieval runs in the background (see instances_expected and GetStudy).
   */
  'instancesRetrieved'?: (number);
  /**
   * Instances the PACS listed for the study, to be retrieved.
   */
  'instancesExpected'?: (number);
}

export interface SubmitStudyResponse__Output {
  'studyInstanceUid': (string);
  /**
   * 0: the job opens when the pull is complete (the study.received event carries it).
   */
  'jobId': (string);
  /**
   * "pulling"
   */
  'state': (string);
  /**
   * 0: the retrieval runs in the background (see instances_expected and GetStudy).
   */
  'instancesRetrieved': (number);
  /**
   * Instances the PACS listed for the study, to be retrieved.
   */
  'instancesExpected': (number);
}
