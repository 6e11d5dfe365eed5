// `python3 models/training/score_masks.py FOLDER` (issue 14): the shipped ONNX model's infection maps scored against
// the 50 COVID-SemiSeg doctor masks reproduce the model card's held-out figures.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describeWithSharedData, sharedData } from '../support/shared-data';
import { requireModels } from '../support/models';

const FOLDER = 'covid-semiseg-train/TrainingSet/LungInfection-Train/Doctor-label';

describeWithSharedData(FOLDER, 'score_masks.py on COVID-SemiSeg', () => {
  test('prints one JSON object equal to the manifest figures', () => {
    const out = execFileSync('/usr/bin/python3', [path.join(requireModels(), 'training', 'score_masks.py'), sharedData(FOLDER)], { encoding: 'utf8' });
    const r = JSON.parse(out) as { dice: number; pointingGame: number; energyInMask: number; n: number };
    const m = JSON.parse(readFileSync(path.join(requireModels(), 'manifest.json'), 'utf8')) as {
      metrics: { semiseg: { dice: number; pointingGame: number; energyInMask: number; n: number } };
    };
    expect(r.n).toBe(50);
    expect(r.dice).toBeCloseTo(m.metrics.semiseg.dice, 3);
    expect(r.pointingGame).toBeCloseTo(m.metrics.semiseg.pointingGame, 3);
    expect(r.energyInMask).toBeCloseTo(m.metrics.semiseg.energyInMask, 3);
  }, 300_000);
});
