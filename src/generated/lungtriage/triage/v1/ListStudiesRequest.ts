// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Priority as _lungtriage_triage_v1_Priority, Priority__Output as _lungtriage_triage_v1_Priority__Output } from '../../../lungtriage/triage/v1/Priority';

export interface ListStudiesRequest {
  'state'?: (string);
  'minPriority'?: (_lungtriage_triage_v1_Priority);
  'receivedAfter'?: (string);
  'receivedBefore'?: (string);
  'pageSize'?: (number);
  'pageToken'?: (string);
}

export interface ListStudiesRequest__Output {
  'state': (string);
  'minPriority': (_lungtriage_triage_v1_Priority__Output);
  'receivedAfter': (string);
  'receivedBefore': (string);
  'pageSize': (number);
  'pageToken': (string);
}
