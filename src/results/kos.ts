/** The Key Object Selection (TID 2010): the key CT slices, then their heat maps. */
import type { SliceResult } from '../inference/types';
import type { HuVolume } from '../volume/types';
import { SopClass, writePart10, type NaturalDataset } from '../dicom/dcmjs';
import { DCM } from './codes';
import { contributingEquipment, DEVICE, equipmentAttributes } from './device';
import { heatMapRef } from './heatmap-series';
import { resultSeriesNumbers, sourceRef, type ResultContext, type ResultObject } from './result-set';
import { evidenceSequence } from './sr/content';
import { KeyObjectSelectionDocument } from './sr/templates';

/** The KOS of the key slices and their heat maps (callers make none when there is no key slice). */
export function keyObjectSelection(ctx: ResultContext, volume: HuVolume, keys: SliceResult[]): ResultObject {
  const { uids, when } = ctx;
  const ct = keys.map((s) => sourceRef(volume, s.index));
  const heat = keys.map((s) => heatMapRef(uids, s));
  const root = new KeyObjectSelectionDocument({
    title: DCM.OfInterest,
    description: `AI key slices (lung-triage, not reviewed): the ${keys.length} slices with the highest lesion probability and their heat maps.`,
    device: DEVICE,
    images: [...ct, ...heat],
  }).root();
  const dataset: NaturalDataset = {
    ...ctx.header,
    SOPClassUID: SopClass.KeyObjectSelection,
    SOPInstanceUID: uids.kos,
    Modality: 'KO',
    SeriesInstanceUID: uids.kosSeries,
    SeriesNumber: resultSeriesNumbers(ctx.study).kos,
    SeriesDescription: 'AI key images (lung-triage, not reviewed)',
    SeriesDate: when.date,
    SeriesTime: when.time,
    ReferencedPerformedProcedureStepSequence: [],
    ...equipmentAttributes(ctx.algoVersion),
    ContributingEquipmentSequence: contributingEquipment(ctx.models, ctx.when),
    InstanceNumber: 1,
    ContentDate: when.date,
    ContentTime: when.time,
    CurrentRequestedProcedureEvidenceSequence: evidenceSequence(ctx.study.StudyInstanceUID, [
      { seriesUid: volume.seriesUid, refs: ct },
      { seriesUid: uids.heatSeries, refs: heat },
    ]),
    ...root.toDataset(true),
  };
  return { kind: 'kos', sopClassUid: SopClass.KeyObjectSelection, sopInstanceUid: uids.kos, seriesInstanceUid: uids.kosSeries, bytes: writePart10(dataset) };
}
