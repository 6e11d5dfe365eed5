/**
 * The patient-level decision: the patient model's class probabilities against the manifest's operating threshold
 * and, for models with an infection map, the volume evidence (the infected share of the lung) under its rule.
 */
import { infectionDecision } from './infection';
import type { Manifest } from './manifest';
import type { LabelInfo, PatientResult } from './types';

/** What the volume says, for models with an infection map. */
export interface VolumeEvidence {
  /** Infected share of the lung (the patient model's infection_fraction, 0..1). */
  fraction: number;
  infectedMl: number;
  lungMl: number;
}

/**
 * Decides the patient: the most likely class and positive / negative at the threshold; with an infection rule the
 * decision follows the infection (present / indeterminate / absent), and the COVID-19 label needs infection to be
 * read from.
 */
export function decidePatient(m: Manifest, classes: LabelInfo[], probs: number[], evidence?: VolumeEvidence): PatientResult {
  const posIdx = classes.findIndex((c) => c.label === m.positiveClass);
  let best = 0;
  for (let i = 1; i < classes.length; i++) if (probs[i] > probs[best]) best = i;
  const positiveProbability = probs[posIdx];
  const threshold = m.threshold.value;
  const patient: PatientResult = {
    classProbabilities: probs,
    label: classes[best].label,
    positiveProbability,
    threshold,
    decision: positiveProbability >= threshold ? 'positive' : 'negative',
  };
  if (m.infection && evidence) {
    const rule = m.infection;
    const decision = infectionDecision(evidence.fraction, rule);
    patient.decision = decision === 'present' ? 'positive' : decision === 'absent' ? 'negative' : 'indeterminate';
    // The COVID-19 label follows the pattern, and only once there is infection to read it from.
    const covid = decision !== 'absent' && positiveProbability >= threshold;
    patient.label = covid ? m.positiveClass : (classes.find((c) => c.label !== m.positiveClass)?.label ?? classes[best].label);
    patient.infection = { decision, ...evidence, urgentFraction: rule.urgentFraction };
  }
  return patient;
}
