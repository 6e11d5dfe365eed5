import { existsSync } from 'node:fs';
import path from 'node:path';
import { chestPhantom, type PhantomOptions } from '../../../src/synthetic/phantom';
import type { HuVolume } from '../../../src/volume/types';

/** The real models (models/ in the repo). LT_TEST_MODELS_DIR may point elsewhere for local experiments only. */
export const MODELS_DIR = path.resolve(process.env.LT_TEST_MODELS_DIR ?? path.join(__dirname, '../../../models'));

/** Fails with a plain message when the trained models are missing (they are committed with the repo). */
export function requireModels(): string {
  if (!existsSync(path.join(MODELS_DIR, 'manifest.json')))
    throw new Error(`no model manifest at ${MODELS_DIR}/manifest.json: the trained models (models/) are needed by these tests`);
  return MODELS_DIR;
}

/** A chest phantom as the HuVolume a gateway would send. */
export function phantomVolume(opts: PhantomOptions = {}): HuVolume {
  const p = chestPhantom(opts);
  const sources = Array.from({ length: p.slices }, (_, i) => ({
    sopInstanceUid: `2.25.${1000 + i}`,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    position: i * p.sliceSpacing,
    imagePositionPatient: [0, 0, i * p.sliceSpacing] as [number, number, number],
  }));
  return {
    studyUid: '2.25.1',
    seriesUid: '2.25.2',
    rows: p.size,
    columns: p.size,
    slices: p.slices,
    pixelSpacing: [p.pixelSpacing, p.pixelSpacing],
    sliceSpacing: p.sliceSpacing,
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    hu: p.hu,
    sources,
    contentHash: 'phantom-' + String(p.size) + 'x' + String(p.slices),
    warnings: [],
  };
}
