/**
 * A synthetic study for results tests and the bench: a chest phantom written as a CT series, the HuVolume the volume
 * stage would make from it, and a hand-made Analysis consistent with the inference contract (lesion maps computed
 * from where the phantom's lesions are).
 */
import { createHash } from 'node:crypto';
import type { Analysis, SliceResult } from '../../src/inference/types';
import type { HuVolume } from '../../src/volume/types';
import { SopClass, readPart10 } from '../../src/dicom/dcmjs';
import { chestPhantom, phantomSeries, type Lesion, type WrittenInstance } from '../../src/synthetic/phantom';
import { studyContextFromDataset, type StudyContext } from '../../src/results';

/** The fixture. */
export interface SyntheticStudy {
  instances: WrittenInstance[];
  study: StudyContext;
  volume: HuVolume;
  analysis: Analysis;
}

const MAP = 32;

/** Builds the fixture (size x size x slices), with the phantom's default lesions unless told otherwise. */
export function syntheticStudy(opts: { size?: number; slices?: number; seed?: string; lesions?: Lesion[]; positive?: number } = {}): SyntheticStudy {
  const size = opts.size ?? 128;
  const slices = opts.slices ?? 40;
  const phantom = chestPhantom({ size, slices, lesions: opts.lesions });
  const instances = phantomSeries(phantom, { seed: opts.seed ?? 'results-test' });
  const first = readPart10(instances[0].bytes).dataset;
  const study = studyContextFromDataset(first);
  // Ascending position along the normal (0,0,1): phantom slice z lies at -z * spacing, so volume slice s = phantom z = n-1-s.
  const hu = new Int16Array(phantom.hu.length);
  const plane = size * size;
  for (let s = 0; s < slices; s++) hu.set(phantom.hu.subarray((slices - 1 - s) * plane, (slices - s) * plane), s * plane);
  const ps = phantom.pixelSpacing;
  const volume: HuVolume = {
    studyUid: study.StudyInstanceUID,
    seriesUid: first.SeriesInstanceUID as string,
    frameOfReferenceUid: first.FrameOfReferenceUID as string,
    rows: size,
    columns: size,
    slices,
    pixelSpacing: [ps, ps],
    sliceSpacing: phantom.sliceSpacing,
    sliceThickness: phantom.sliceSpacing,
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    hu,
    sources: Array.from({ length: slices }, (_, s) => {
      const z = slices - 1 - s;
      const pos = -z * phantom.sliceSpacing;
      return {
        sopInstanceUid: instances[z].sopInstanceUid,
        sopClassUid: SopClass.CtImage,
        position: pos,
        imagePositionPatient: [-(size / 2) * ps, -(size / 2) * ps, pos] as [number, number, number],
      };
    }),
    contentHash: createHash('sha256').update(Buffer.from(hu.buffer)).update(`${size}x${slices}`).digest('hex'),
    warnings: [],
  };
  return { instances, study, volume, analysis: syntheticAnalysis(volume, opts.positive ?? 0.93) };
}

/** An Analysis whose lesion maps mark voxels in the ground-glass/consolidation HU range inside the body. */
export function syntheticAnalysis(volume: HuVolume, positiveProbability: number): Analysis {
  const { rows, columns } = volume;
  const crop = { x: Math.round(columns * 0.1), y: Math.round(rows * 0.15), width: Math.round(columns * 0.8), height: Math.round(rows * 0.7) };
  const slices: SliceResult[] = [];
  const pixelArea = volume.pixelSpacing[0] * volume.pixelSpacing[1];
  for (let s = 0; s < volume.slices; s++) {
    const map = new Uint8Array(MAP * MAP);
    let lesionPixels = 0;
    let leftLesionPixels = 0;
    const base = s * rows * columns;
    for (let my = 0; my < MAP; my++) {
      for (let mx = 0; mx < MAP; mx++) {
        let n = 0;
        let hit = 0;
        const y0 = crop.y + Math.floor((my * crop.height) / MAP);
        const y1 = crop.y + Math.floor(((my + 1) * crop.height) / MAP);
        const x0 = crop.x + Math.floor((mx * crop.width) / MAP);
        const x1 = crop.x + Math.floor(((mx + 1) * crop.width) / MAP);
        for (let y = y0; y < y1; y++) {
          for (let x = x0; x < x1; x++) {
            const v = volume.hu[base + y * columns + x];
            n++;
            if (v > -720 && v < -80) hit++;
          }
        }
        lesionPixels += hit;
        if (mx + 0.5 < MAP / 2) leftLesionPixels += hit;
        map[my * MAP + mx] = n ? Math.round((255 * hit) / n) : 0;
      }
    }
    const share = lesionPixels / (crop.width * crop.height);
    const p = Math.min(0.99, share * 25);
    const lungAreaMm2 = crop.width * crop.height * pixelArea * 0.5;
    const infectedAreaMm2 = lesionPixels * pixelArea;
    slices.push({
      index: s,
      lesionProbability: p,
      classProbabilities: [1 - p, p * 0.8, p * 0.2],
      lesionTypeProbabilities: [p, p * 0.5, p * 0.1],
      lesionMap: map,
      mapWidth: MAP,
      mapHeight: MAP,
      cropBox: crop,
      lungAreaMm2,
      infectedAreaMm2,
      imageLeftLungAreaMm2: lungAreaMm2 / 2,
      imageLeftInfectedAreaMm2: leftLesionPixels * pixelArea,
      infectionProbability: p,
    });
  }
  const infectedMl = slices.reduce((t, x) => t + (x.infectedAreaMm2 * volume.sliceSpacing) / 1000, 0);
  const lungMl = slices.reduce((t, x) => t + (x.lungAreaMm2 * volume.sliceSpacing) / 1000, 0);
  const threshold = 0.42;
  const pos = positiveProbability;
  return {
    classes: [
      { label: 'normal', display: 'No pneumonia', code: null },
      { label: 'covid', display: 'COVID-19', code: { value: '840539006', scheme: 'SCT', meaning: 'COVID-19' } },
      { label: 'cap', display: 'Other pneumonia', code: { value: '233604007', scheme: 'SCT', meaning: 'Pneumonia' } },
    ],
    positiveClass: 'covid',
    lesionTypes: [
      { label: 'ggo', display: 'Ground glass opacity', code: { value: '112120', scheme: 'DCM', meaning: 'Ground glass opacity' } },
      { label: 'consolidation', display: 'Consolidation', code: { value: '95436008', scheme: 'SCT', meaning: 'Consolidation of lung' } },
      { label: 'crazy_paving', display: 'Crazy paving', code: null },
    ],
    slices,
    patient: {
      classProbabilities: [1 - pos, pos * 0.9, pos * 0.1],
      label: pos >= threshold ? 'covid' : 'normal',
      positiveProbability: pos,
      threshold,
      decision: pos >= threshold ? 'positive' : 'negative',
      infection: {
        decision: pos >= threshold ? 'present' : 'absent',
        fraction: pos >= threshold ? infectedMl / lungMl : 0,
        infectedMl: pos >= threshold ? infectedMl : 0,
        lungMl,
        urgentFraction: 0.01,
      },
    },
    sliceLesionThreshold: 0.5,
    minInfectedSliceAreaMm2: 50,
    infectionPixelThreshold: 0.5,
    models: [
      { role: 'slice', name: 'mlung-slice', version: '0.1.0', sha256: 'a'.repeat(64) },
      { role: 'patient', name: 'mlung-patient', version: '0.1.0', sha256: 'b'.repeat(64) },
    ],
    executionProvider: 'cpu',
    timingsMs: { total: 1 },
  };
}
