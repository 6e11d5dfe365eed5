// Original file: proto/lungtriage/triage/v1/triage.proto

import type { Study as _lungtriage_triage_v1_Study, Study__Output as _lungtriage_triage_v1_Study__Output } from '../../../lungtriage/triage/v1/Study';

export interface ListStudiesResponse {
  'studies'?: (_lungtriage_triage_v1_Study)[];
  'nextPageToken'?: (string);
}

export interface ListStudiesResponse__Output {
  'studies': (_lungtriage_triage_v1_Study__Output)[];
  'nextPageToken': (string);
}
