import type { PatientResult } from '../inference/types';
import { LT } from './codes';
import type { Code } from '../inference/types';

/**
 * Triage priority, derived from the patient-level decision and probability:
 * - URGENT: positive, and the positive-class probability is at least the high-confidence cut
 *   (default 0.90, never below the operating threshold);
 * - HIGH: positive below that cut;
 * - ROUTINE: negative (or no result).
 * `rank` is the value for job/event ordering (lower goes first: 10 / 50 / 100, 100 being the job table default).
 */
export type TriagePriority = 'URGENT' | 'HIGH' | 'ROUTINE';

/** Default high-confidence cut for URGENT. */
export const URGENT_PROBABILITY = 0.9;

/** The priority, its rank and its code. */
export function triagePriority(
  patient: Pick<PatientResult, 'decision' | 'positiveProbability' | 'threshold'> | undefined,
  urgentCut = URGENT_PROBABILITY,
): { priority: TriagePriority; rank: number; code: Code } {
  if (!patient || patient.decision !== 'positive') return { priority: 'ROUTINE', rank: 100, code: LT.Routine };
  if (patient.positiveProbability >= Math.max(urgentCut, patient.threshold)) return { priority: 'URGENT', rank: 10, code: LT.Urgent };
  return { priority: 'HIGH', rank: 50, code: LT.High };
}
