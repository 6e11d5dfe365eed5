// The real thorax CT series (../shared/data) through a real worker with the real models: sane results.
import { InferenceClient } from '../../src/inference/client';
import { InferenceEngine } from '../../src/inference/engine';
import { startWorker, type WorkerHandle } from '../../src/inference/worker';
import { log } from '../../src/logger';
import { describeWithSharedData, sharedData } from '../support/shared-data';
import { requireModels } from '../support/models';
import { readThoraxSeries } from './support/thorax';

describeWithSharedData('thorax-ct-dicom/series', 'real thorax CT series through the worker', () => {
  let engine: InferenceEngine;
  let worker: WorkerHandle;
  beforeAll(async () => {
    engine = await InferenceEngine.load({ modelsDir: requireModels() });
    worker = await startWorker({ modelsDir: requireModels(), port: 0, engine });
  });
  afterAll(async () => {
    await worker?.close();
    await engine?.close();
  });

  test('141 slices of 512x512 give a complete analysis with lung crops inside the body', async () => {
    const t0 = Date.now();
    const vol = readThoraxSeries(sharedData('thorax-ct-dicom/series'));
    const readMs = Date.now() - t0;
    expect(vol.slices).toBe(141);
    const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 600_000 });
    const a = await client.analyze(vol);
    client.close();
    log.info('thorax series analysed', { readMs, timingsMs: a.timingsMs, patient: a.patient });
    expect(a.slices).toHaveLength(141);
    for (const s of a.slices) {
      for (const p of [s.lesionProbability, ...s.classProbabilities, ...s.lesionTypeProbabilities]) {
        expect(Number.isFinite(p)).toBe(true);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThanOrEqual(1);
      }
      expect(s.cropBox.x + s.cropBox.width).toBeLessThanOrEqual(512);
      expect(s.cropBox.y + s.cropBox.height).toBeLessThanOrEqual(512);
    }
    // Mid-thorax slices: the lungs are found, so the crop is a real sub-region (not the whole slice) and holds
    // both lungs (wider than a third of the slice).
    for (const s of a.slices.slice(50, 100)) {
      expect(s.cropBox.width * s.cropBox.height).toBeLessThan(0.8 * 512 * 512);
      expect(s.cropBox.width).toBeGreaterThan(512 / 3);
    }
    expect(a.patient.classProbabilities.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 4);
    // A lung-tumour patient without infection (the model card's end-to-end check): infection absent, a negative,
    // non-COVID answer and no slice with lesion, so no finding, heat map or key slice downstream.
    expect(a.patient.infection?.decision).toBe('absent');
    expect(a.patient.decision).toBe('negative');
    expect(a.patient.label).not.toBe(a.positiveClass);
    // The HU lung mask: lung on a contiguous run of mid-thorax slices (plausible adult lung volume), none on the
    // neck and abdomen slices at the ends.
    const withLung = a.slices.filter((s) => s.lungAreaMm2 > 0).map((s) => s.index);
    expect(withLung.length).toBeGreaterThan(90);
    expect(withLung[withLung.length - 1] - withLung[0] + 1).toBe(withLung.length);
    expect(a.slices[0].lungAreaMm2).toBe(0);
    expect(a.slices[140].lungAreaMm2).toBe(0);
    expect(a.patient.infection!.lungMl).toBeGreaterThan(3000);
    expect(a.patient.infection!.lungMl).toBeLessThan(8000);
    expect(a.executionProvider).toBe(engine.executionProvider);
  }, 600_000);
});
