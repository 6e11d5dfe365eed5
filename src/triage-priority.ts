/**
 * The one triage priority scale. A rank is an integer, higher goes first; the names and numbers are the
 * TriageService `Priority` enum's (proto/lungtriage/triage/v1/triage.proto), so `job.priority`,
 * `triage_event.priority` and the API all speak the same values.
 *
 * A job's rank is written when it opens, from what is known then (the order's Requested Procedure Priority in the
 * instance headers, the study's earlier result), raised when its own result is known, and the claim takes the highest
 * rank first.
 */
export const PRIORITY = { ROUTINE: 1, HIGH: 2, URGENT: 3 } as const;

/** A named priority level. */
export type PriorityName = keyof typeof PRIORITY;

/** A rank on the scale (1 routine, 2 high, 3 urgent). */
export type PriorityRank = (typeof PRIORITY)[PriorityName];

/** The levels, lowest first. */
export const PRIORITY_NAMES: readonly PriorityName[] = ['ROUTINE', 'HIGH', 'URGENT'];

/** The rank of a level; anything that is not a level name ranks ROUTINE. */
export function priorityRank(name: string | null | undefined): PriorityRank {
  return PRIORITY[name as PriorityName] ?? PRIORITY.ROUTINE;
}

/** The level of a rank (ranks outside the scale are clamped to it). */
export function priorityName(rank: number): PriorityName {
  return PRIORITY_NAMES[Math.min(Math.max(Math.round(rank), PRIORITY.ROUTINE), PRIORITY.URGENT) - 1];
}

/** The levels at or above a rank (for "at least HIGH" filters). */
export function namesAtLeast(rank: number): PriorityName[] {
  return PRIORITY_NAMES.filter((n) => PRIORITY[n] >= rank);
}

/**
 * The rank an order asks for, from Requested Procedure Priority (0040,1003; PS3.3 C.4.11, enumerated values STAT,
 * HIGH, ROUTINE, MEDIUM, LOW): STAT is URGENT, HIGH is HIGH, anything else (or nothing) undefined.
 */
export function requestedPriorityRank(value: string | null | undefined): PriorityRank | undefined {
  switch (value?.trim().toUpperCase()) {
    case 'STAT':
      return PRIORITY.URGENT;
    case 'HIGH':
      return PRIORITY.HIGH;
    case 'ROUTINE':
    case 'MEDIUM':
    case 'LOW':
      return PRIORITY.ROUTINE;
    default:
      return undefined;
  }
}
