// The patient-level decision (src/inference/patient-decision.ts) over the committed manifest's threshold and rule.
import path from 'node:path';
import { labelsOf, readManifest } from '../../src/inference/manifest';
import { decidePatient } from '../../src/inference/patient-decision';

const m = readManifest(path.join(__dirname, '../../models'));
const { classes } = labelsOf(m);
const rule = m.infection!;
const covidLikely = [0.2, 0.8]; // p(covid-19) 0.8, above the threshold
const volume = (fraction: number) => ({ fraction, infectedMl: 12.5, lungMl: 5000 });

test('infection present: positive, and the COVID-19 label when its probability reaches the threshold', () => {
  const p = decidePatient(m, classes, covidLikely, volume(rule.present));
  expect(p).toMatchObject({ decision: 'positive', label: 'covid-19', positiveProbability: 0.8, threshold: m.threshold.value });
  expect(p.infection).toEqual({ decision: 'present', fraction: rule.present, infectedMl: 12.5, lungMl: 5000, urgentFraction: rule.urgentFraction });
  const below = [1 - m.threshold.value / 2, m.threshold.value / 2];
  expect(decidePatient(m, classes, below, volume(rule.present))).toMatchObject({ decision: 'positive', label: 'non-covid' });
});

test('the band below "present" is indeterminate; no infection is negative and never labelled COVID-19', () => {
  expect(decidePatient(m, classes, covidLikely, volume(rule.indeterminate))).toMatchObject({ decision: 'indeterminate', label: 'covid-19' });
  const absent = decidePatient(m, classes, covidLikely, volume(rule.indeterminate / 2));
  expect(absent).toMatchObject({ decision: 'negative', label: 'non-covid', infection: { decision: 'absent' } });
});

test('a model without an infection map decides on the class probability alone', () => {
  const noMap = { ...m, infection: undefined };
  expect(decidePatient(noMap, classes, covidLikely)).toEqual({ classProbabilities: covidLikely, label: 'covid-19', positiveProbability: 0.8, threshold: m.threshold.value, decision: 'positive' });
  expect(decidePatient(noMap, classes, [0.95, 0.05])).toMatchObject({ decision: 'negative', label: 'non-covid' });
});
