// Original file: proto/lungtriage/triage/v1/triage.proto

export const Priority = {
  PRIORITY_UNSPECIFIED: 'PRIORITY_UNSPECIFIED',
  ROUTINE: 'ROUTINE',
  HIGH: 'HIGH',
  URGENT: 'URGENT',
} as const;

export type Priority =
  | 'PRIORITY_UNSPECIFIED'
  | 0
  | 'ROUTINE'
  | 1
  | 'HIGH'
  | 2
  | 'URGENT'
  | 3

export type Priority__Output = typeof Priority[keyof typeof Priority]
