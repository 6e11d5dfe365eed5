import { chestPhantom, type PhantomOptions } from '../../../src/synthetic/phantom';
import type { HuVolume } from '../../../src/volume/types';

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
