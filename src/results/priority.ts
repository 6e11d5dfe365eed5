import type { PatientResult } from '../inference/types';
import { PRIORITY, type PriorityName, type PriorityRank } from '../triage-priority';
import { LT } from './codes';
import type { Code } from '../dicom/code';

/**
 * Triage priority, derived from the patient-level decision and probability:
 * - URGENT: positive, and the positive-class probability is at least the high-confidence cut
 *   (default 0.90, never below the operating threshold);
 * - HIGH: positive below that cut;
 * - ROUTINE: negative (or no result).
 * `rank` is the level's rank on the one scale (src/triage-priority.ts: higher goes first, 1 / 2 / 3).
 */
export type TriagePriority = PriorityName;

/** Default high-confidence cut for URGENT. */
export const URGENT_PROBABILITY = 0.9;

/** The priority, its rank and its code. */
export function triagePriority(
  patient: Pick<PatientResult, 'decision' | 'positiveProbability' | 'threshold' | 'infection'> | undefined,
  urgentCut = URGENT_PROBABILITY,
): { priority: TriagePriority; rank: PriorityRank; code: Code } {
  // Models 2.0: the priority follows the infection burden; an indeterminate study is read before routine ones.
  if (patient?.infection) {
    const i = patient.infection;
    if (i.decision === 'present' && i.fraction >= i.urgentFraction) return { priority: 'URGENT', rank: PRIORITY.URGENT, code: LT.Urgent };
    if (i.decision !== 'absent') return { priority: 'HIGH', rank: PRIORITY.HIGH, code: LT.High };
    return { priority: 'ROUTINE', rank: PRIORITY.ROUTINE, code: LT.Routine };
  }
  if (!patient || patient.decision !== 'positive') return { priority: 'ROUTINE', rank: PRIORITY.ROUTINE, code: LT.Routine };
  if (patient.positiveProbability >= Math.max(urgentCut, patient.threshold)) return { priority: 'URGENT', rank: PRIORITY.URGENT, code: LT.Urgent };
  return { priority: 'HIGH', rank: PRIORITY.HIGH, code: LT.High };
}
