/**
 * The DICOM SEG of the infection and the SR's volumetric groups (issue 15), on chest phantoms analysed by a real
 * worker with the real models: the phantom with ground-glass blobs (called positive) and the same phantom without
 * them (negative). Checked with dciodvfy, dcentvfy, dsrdump and pydicom, and against the CT instances themselves.
 */
import { InferenceClient } from '../../src/inference/client';
import type { Analysis } from '../../src/inference/types';
import { startWorker, type WorkerHandle } from '../../src/inference/worker';
import { readPart10, SopClass, type NaturalDataset } from '../../src/dicom/dcmjs';
import { buildResults, type ResultObjects } from '../../src/results';
import { requireModels } from '../support/models';
import { DCENTVFY_SR_ACCESSION, DCIODVFY_DEVICE_UID, dcentvfy, dciodvfy, dsrdump, pydicomEval } from './dicom-tools';
import { syntheticStudy, type SyntheticStudy } from './fixtures';
import { codeTriples, findItems, first } from './sr-tree';

const NOW = new Date('2026-03-01T10:00:00Z');
const datasetOf = (b: Buffer): NaturalDataset => readPart10(b).dataset;
const seq = (v: unknown): NaturalDataset[] => (Array.isArray(v) ? v : v ? [v] : []) as NaturalDataset[];

/** Frame f's pixels (0/1) of a binary SEG, unpacked from the bit stream (first pixel in the lowest bit). */
function framePixels(seg: NaturalDataset, f: number): number {
  const n = (seg.Rows as number) * (seg.Columns as number);
  const bits = new Uint8Array((seg.PixelData as ArrayBuffer[])[0]);
  let count = 0;
  for (let p = f * n; p < (f + 1) * n; p++) count += (bits[p >> 3] >> (p & 7)) & 1;
  return count;
}

describe('infection SEG and TID 1411 volumetric groups, real worker', () => {
  let worker: WorkerHandle;
  let pos: SyntheticStudy & { a: Analysis; r: ResultObjects };
  let neg: SyntheticStudy & { a: Analysis; r: ResultObjects };
  const ct = new Map<string, NaturalDataset>();

  beforeAll(async () => {
    worker = await startWorker({ modelsDir: requireModels(), port: 0 });
    const client = new InferenceClient([`127.0.0.1:${worker.port}`], { deadlineMs: 600_000 });
    const run = async (fx: SyntheticStudy) => {
      const a = await client.analyze(fx.volume);
      return { ...fx, a, r: buildResults({ study: fx.study, volume: fx.volume, analysis: a, keySlices: 4, now: NOW }) };
    };
    pos = await run(syntheticStudy({ size: 128, slices: 24, seed: 'seg' }));
    neg = await run(syntheticStudy({ size: 128, slices: 24, seed: 'seg-negative', lesions: [] }));
    client.close();
    for (const i of pos.instances) ct.set(i.sopInstanceUid, datasetOf(i.bytes));
  });
  afterAll(async () => {
    await worker?.close();
  });

  const segOf = (r: ResultObjects) => r.objects.find((o) => o.kind === 'seg');

  test('the positive study gets one SEG; dciodvfy, pydicom and dcentvfy (CT + every result) accept it', () => {
    expect(pos.a.patient.decision).toBe('positive');
    expect(pos.a.infectionPixelThreshold).toBe(0.5); // from the manifest, across gRPC
    const seg = segOf(pos.r);
    expect(seg).toBeDefined();
    expect(pos.r.objects.filter((o) => o.kind === 'seg')).toHaveLength(1);
    const v = dciodvfy(seg!.bytes);
    expect(v.errors).toEqual([]);
    expect(v.warnings.filter((w) => !DCIODVFY_DEVICE_UID.some((k) => k.test(w)))).toEqual([]);
    const d = datasetOf(seg!.bytes);
    const py = pydicomEval(seg!.bytes, `d.SOPClassUID, d.NumberOfFrames, int(d.pixel_array.sum())`);
    expect(py.status).toBe(0);
    const voxels = seq(d.PerFrameFunctionalGroupsSequence).reduce((t, _f, i) => t + framePixels(d, i), 0);
    expect(py.output).toBe(`${SopClass.Segmentation} ${String(d.NumberOfFrames)} ${voxels}`);
    const all = [...pos.instances.map((i, k) => ({ name: `ct${k}`, bytes: i.bytes })), ...pos.r.objects.map((o, k) => ({ name: o.kind === 'sr' || o.kind === 'kos' ? o.kind : `${o.kind}${k}`, bytes: o.bytes }))];
    expect(dcentvfy(all, [DCENTVFY_SR_ACCESSION])).toEqual([]);
  });

  test('frames exactly on the slices with infection, at their Image Position, referencing their CT image, in its Frame of Reference', () => {
    const d = datasetOf(segOf(pos.r)!.bytes);
    const ctFirst = ct.get(pos.instances[0].sopInstanceUid)!;
    expect(d.FrameOfReferenceUID).toBe(ctFirst.FrameOfReferenceUID);
    expect([d.Rows, d.Columns]).toEqual([ctFirst.Rows, ctFirst.Columns]);
    expect(d).toMatchObject({ Modality: 'SEG', SegmentationType: 'BINARY', BitsAllocated: 1, StudyInstanceUID: pos.study.StudyInstanceUID });
    const shared = first(d.SharedFunctionalGroupsSequence);
    expect(first(shared.PlaneOrientationSequence).ImageOrientationPatient).toEqual(ctFirst.ImageOrientationPatient);
    expect(first(shared.PixelMeasuresSequence).PixelSpacing).toEqual(ctFirst.PixelSpacing);
    const frames = seq(d.PerFrameFunctionalGroupsSequence);
    const infected = pos.a.slices.filter((s) => s.infectedAreaMm2 > 0);
    expect(infected.length).toBeGreaterThan(0);
    expect(infected.length).toBeLessThan(pos.a.slices.length);
    expect(frames).toHaveLength(infected.length);
    const pixelArea = (ctFirst.PixelSpacing as number[])[0] * (ctFirst.PixelSpacing as number[])[1];
    frames.forEach((f, i) => {
      const src = first(first(f.DerivationImageSequence).SourceImageSequence);
      const image = ct.get(src.ReferencedSOPInstanceUID as string);
      expect(image).toBeDefined();
      expect(src.ReferencedSOPClassUID).toBe(image!.SOPClassUID);
      expect(first(f.PlanePositionSequence).ImagePositionPatient).toEqual(image!.ImagePositionPatient);
      // The frame is drawn from the slice the engine measured: same infected area, pixel for pixel.
      const slice = pos.a.slices[pos.volume.sources.findIndex((s) => s.sopInstanceUid === src.ReferencedSOPInstanceUID)];
      expect(slice).toBe(infected[i]);
      expect(framePixels(d, i) * pixelArea).toBeCloseTo(slice.infectedAreaMm2, 3);
    });
    const refSeries = first(d.ReferencedSeriesSequence);
    expect(refSeries.SeriesInstanceUID).toBe(ctFirst.SeriesInstanceUID);
    expect(seq(refSeries.ReferencedInstanceSequence).map((r) => r.ReferencedSOPInstanceUID).sort()).toEqual(
      frames.map((f) => first(first(f.DerivationImageSequence).SourceImageSequence).ReferencedSOPInstanceUID).sort(),
    );
    const segment = first(d.SegmentSequence);
    expect(segment).toMatchObject({ SegmentNumber: 1, SegmentAlgorithmType: 'AUTOMATIC' });
    expect(String(segment.SegmentAlgorithmName)).toContain('mlung-sys');
    expect(codeTriples({ ConceptNameCodeSequence: segment.SegmentedPropertyCategoryCodeSequence, ConceptCodeSequence: segment.SegmentedPropertyTypeCodeSequence })).toEqual([
      '49755003|SCT|Morphologically Abnormal Structure',
      '23583003|SCT|Inflammation',
    ]);
  });

  test("the SEG's voxel count x voxel volume is the SR's infected volume", () => {
    const d = datasetOf(segOf(pos.r)!.bytes);
    const measures = first(first(d.SharedFunctionalGroupsSequence).PixelMeasuresSequence);
    const [rs, cs] = measures.PixelSpacing as number[];
    const voxelMl = (rs * cs * (measures.SpacingBetweenSlices as number)) / 1000;
    const voxels = seq(d.PerFrameFunctionalGroupsSequence).reduce((t, _f, i) => t + framePixels(d, i), 0);
    const both = findItems(datasetOf(pos.r.sr.bytes), '125007').find((g) => /both lungs/.test(String(findItems(g, '112039')[0].TextValue)))!;
    const srMl = Number(first(findItems(both, '118565006')[0].MeasuredValueSequence).NumericValue);
    expect(srMl).toBeGreaterThan(1);
    expect(voxels * voxelMl).toBeCloseTo(srMl, 2);
  });

  test('TID 1411 groups: both lungs, each lung, each zone, with the Referenced Segment, ml and %; the SEG is evidence', () => {
    const sr = datasetOf(pos.r.sr.bytes);
    const seg = segOf(pos.r)!;
    const groups = findItems(sr, '125007').filter((g) => findItems(g, '121191').length > 0);
    expect(groups.map((g) => String(findItems(g, '112039')[0].TextValue))).toEqual(
      ['both lungs', 'right lung', 'left lung', 'upper zone', 'middle zone', 'lower zone'].map((n) => `AI infected lung volume, ${n}`),
    );
    const value = (g: NaturalDataset, code: string) => Number(first(findItems(g, code)[0].MeasuredValueSequence).NumericValue);
    for (const g of groups) {
      expect(first(g.ContentTemplateSequence).TemplateIdentifier).toBe('1411');
      const ref = first(findItems(g, '121191')[0].ReferencedSOPSequence);
      expect(ref).toMatchObject({ ReferencedSOPClassUID: SopClass.Segmentation, ReferencedSOPInstanceUID: seg.sopInstanceUid, ReferencedSegmentNumber: 1 });
      expect(findItems(g, '121232')[0].UID).toBe(pos.volume.seriesUid);
      const units = (code: string) => String(first(first(findItems(g, code)[0].MeasuredValueSequence).MeasurementUnitsCodeSequence).CodeValue);
      expect([units('118565006'), units('INFSHARE')]).toEqual(['ml', '%']);
    }
    const site = (g: NaturalDataset) => String(first(findItems(g, '363698007')[0].ConceptCodeSequence).CodeValue);
    // Both lungs, each lung, each zone (SCT upper / middle / lower zone of lung), as the group's Finding Site.
    expect(groups.map(site)).toEqual(['74101002', '3341006', '44029006', '281392002', '281393007', '281394001']);
    // Lungs and zones each add up to both lungs.
    const ml = groups.map((g) => value(g, '118565006'));
    expect(ml[1] + ml[2]).toBeCloseTo(ml[0], 3);
    expect(ml[3] + ml[4] + ml[5]).toBeCloseTo(ml[0], 3);
    expect(value(groups[0], 'INFSHARE')).toBeCloseTo(pos.a.patient.infection!.fraction * 100, 4);
    const evidence = seq(first(sr.CurrentRequestedProcedureEvidenceSequence).ReferencedSeriesSequence);
    const segSeries = evidence.find((s) => s.SeriesInstanceUID === seg.seriesInstanceUid);
    expect(first(segSeries!.ReferencedSOPSequence).ReferencedSOPInstanceUID).toBe(seg.sopInstanceUid);
    const dump = dsrdump(pos.r.sr.bytes);
    expect(dump.status).toBe(0);
    expect(dump.output).toContain('<contains IMAGE:(121191,DCM,"Referenced Segment")=(SG image,,1)>');
    expect(dump.output).toMatch(/<contains NUM:\(118565006,SCT,"Volume"\)="[\d.]+" \(ml,UCUM,"milliliter"\)>/);
    expect(dciodvfy(pos.r.sr.bytes).errors).toEqual([]);
  });

  test('a retry re-creates the same SEG; changed content supersedes it with a new UID', () => {
    const again = buildResults({ study: pos.study, volume: pos.volume, analysis: pos.a, keySlices: 4, now: NOW });
    expect(segOf(again)!.sopInstanceUid).toBe(segOf(pos.r)!.sopInstanceUid);
    expect(segOf(again)!.bytes.equals(segOf(pos.r)!.bytes)).toBe(true);
    const other = buildResults({ study: pos.study, volume: { ...pos.volume, contentHash: 'changed' }, analysis: pos.a, keySlices: 4, now: NOW });
    expect(segOf(other)!.sopInstanceUid).not.toBe(segOf(pos.r)!.sopInstanceUid);
  });

  test('the negative study gets no SEG, no infected volume and no volumetric group; "No infection detected" once', () => {
    expect(neg.a.patient.decision).toBe('negative');
    expect(segOf(neg.r)).toBeUndefined();
    const sr = datasetOf(neg.r.sr.bytes);
    expect(findItems(sr, '121191')).toEqual([]);
    expect(findItems(sr, 'INFVOL')).toEqual([]);
    expect(findItems(sr, 'INFSHARE')).toEqual([]);
    // The lung volume stays: one Volume, of both lungs.
    const volumes = findItems(sr, '118565006');
    expect(volumes).toHaveLength(1);
    expect(String(first(findItems(volumes[0], '363698007')[0].ConceptCodeSequence).CodeValue)).toBe('74101002');
    const dump = dsrdump(neg.r.sr.bytes);
    expect(dump.status).toBe(0);
    expect(dump.output.match(/No infection detected/g)).toHaveLength(1);
  });
});
