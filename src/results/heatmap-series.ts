/** The heat-map series: one secondary capture per key slice (src/results/heatmap.ts renders it). */
import type { SliceResult } from '../inference/types';
import type { HuVolume } from '../volume/types';
import { SopClass } from '../dicom/dcmjs';
import { patientOrientation } from './analysis-summary';
import { DISCLAIMER, heatMapScale, renderHeatMap, sliceLabel } from './heatmap';
import { resultSeriesNumbers, sourceRef, type ResultContext, type ResultObject, type ResultUids } from './result-set';
import { secondaryCapture } from './secondary-capture';
import type { InstanceRef } from './sr/content';

/** The heat map of a key slice, as the SR and the KOS reference it. */
export function heatMapRef(uids: ResultUids, slice: SliceResult): InstanceRef {
  return { sopClassUid: SopClass.SecondaryCapture, sopInstanceUid: uids.heat(slice.index) };
}

/** The heat maps of the key slices, in volume order, numbered 1..n. */
export function heatMapSeries(ctx: ResultContext, volume: HuVolume, keys: SliceResult[]): ResultObject[] {
  return keys.map((slice, i) => ({
    ...secondaryCapture(ctx, {
      sopInstanceUid: ctx.uids.heat(slice.index),
      seriesUid: ctx.uids.heatSeries,
      seriesNumber: resultSeriesNumbers(ctx.study).heatMaps,
      seriesDescription: 'AI lesion heat maps (not for diagnostic use)',
      instanceNumber: i + 1,
      patientOrientation: patientOrientation(volume.imageOrientationPatient),
      derivationDescription: `AI infection probability map over CT ${sliceLabel(volume, slice.index)}, lung window; ${DISCLAIMER}`,
      imageComments: `${DISCLAIMER}. Lesion probability ${slice.lesionProbability.toFixed(3)}.`,
      source: sourceRef(volume, slice.index),
      pixelSpacingMm: [volume.pixelSpacing[0] / heatMapScale(volume), volume.pixelSpacing[1] / heatMapScale(volume)],
      image: renderHeatMap(volume, slice, { keyIndex: i + 1, keyCount: keys.length }),
    }),
    kind: 'heatmap' as const,
    sliceIndex: slice.index,
  }));
}
