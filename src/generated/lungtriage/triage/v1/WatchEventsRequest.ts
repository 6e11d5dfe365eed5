// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Priority as _lungtriage_triage_v1_Priority, Priority__Output as _lungtriage_triage_v1_Priority__Output } from '../../../lungtriage/triage/v1/Priority';
import type { Long } from '@grpc/proto-loader';

export interface WatchEventsRequest {
  'afterEventId'?: (number | string | Long);
  /**
   * Only events at or above this priority (results); study.received and failures always pass.
   */
  'minPriority'?: (_lungtriage_triage_v1_Priority);
}

export interface WatchEventsRequest__Output {
  'afterEventId': (string);
  /**
   * Only events at or above this priority (results); study.received and failures always pass.
   */
  'minPriority': (_lungtriage_triage_v1_Priority__Output);
}
