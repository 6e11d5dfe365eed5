import path from 'node:path';
import { writeFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { buildVolume, readSeriesHeaders, type InstanceHeader } from '../../src/volume';
import { selectSeries } from '../../src/study/series-selection';
import { chestPhantom, phantomSeries, writePhantomSeries, enhancedCtInstance } from '../../src/synthetic/phantom';
import { readPart10, writePart10, SopClass, type NaturalDataset } from '../../src/dicom/dcmjs';
import { derivedUid } from '../../src/dicom/uid';
import { tempDir } from '../support/temp-dir';

const STUDY = derivedUid('sel', 'study');

/** Writes every instance of several series into one folder under random names (a PACS push in no order). */
function writeShuffled(dir: string, series: Buffer[][]): string[] {
  mkdirSync(dir, { recursive: true });
  const all = series.flat().map((b) => ({ b, k: randomBytes(4).readUInt32LE() }));
  all.sort((a, b) => a.k - b.k);
  return all.map(({ b }, i) => {
    const f = path.join(dir, `${i}-${randomBytes(3).toString('hex')}.dcm`);
    writeFileSync(f, b);
    return f;
  });
}

function doseReport(): Buffer {
  const dataset: NaturalDataset = {
    SOPClassUID: SopClass.SecondaryCapture,
    SOPInstanceUID: derivedUid('sel', 'dose'),
    StudyInstanceUID: STUDY,
    SeriesInstanceUID: derivedUid('sel', 'dose-series'),
    SeriesNumber: 999,
    SeriesDescription: 'Dose Report',
    Modality: 'OT',
    ImageType: ['DERIVED', 'SECONDARY', 'OTHER'],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: 8,
    Columns: 8,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [new Uint8Array(64).buffer],
    _vrMap: { PixelData: 'OB' },
  };
  return writePart10(dataset);
}

describe('selectSeries on a synthetic multi-series study', () => {
  const tmp = tempDir('sel');
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const thin = chestPhantom({ size: 32, slices: 40, sliceSpacing: 1 });
  const thick = chestPhantom({ size: 32, slices: 24, sliceSpacing: 5 });
  const base = { studyUid: STUDY };
  let headers: InstanceHeader[];
  const uid = (n: number) => derivedUid('sel', 'series', String(n));

  beforeAll(async () => {
    const series = [
      // 1: localizer (2 images).
      phantomSeries(chestPhantom({ size: 32, slices: 2 }), { ...base, seriesUid: uid(1), seriesNumber: 1, seriesDescription: 'Topogram', extra: { ImageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'] } }),
      // 2: thick soft tissue, more slices than nothing but thick.
      phantomSeries(thick, { ...base, seriesUid: uid(2), seriesNumber: 2, seriesDescription: 'Body 5.0', convolutionKernel: 'B30f' }),
      // 3: thin soft tissue.
      phantomSeries(thin, { ...base, seriesUid: uid(3), seriesNumber: 3, seriesDescription: 'Body 1.0', convolutionKernel: 'B30f' }),
      // 4: thin lung kernel: the right one.
      phantomSeries(thin, { ...base, seriesUid: uid(4), seriesNumber: 4, seriesDescription: 'Lung 1.0', convolutionKernel: 'B70f' }),
      // 5: coronal reformat.
      phantomSeries(thin, {
        ...base,
        seriesUid: uid(5),
        seriesNumber: 5,
        seriesDescription: 'Cor MPR',
        convolutionKernel: 'B70f',
        extra: { ImageType: ['DERIVED', 'SECONDARY', 'REFORMATTED'] },
        sliceGeometry: (z) => ({ imagePositionPatient: [-100, z * 1.0, 100], imageOrientationPatient: [1, 0, 0, 0, 0, -1] }),
      }),
      // 6: too few slices.
      phantomSeries(chestPhantom({ size: 32, slices: 5 }), { ...base, seriesUid: uid(6), seriesNumber: 6, convolutionKernel: 'LUNG' }),
      // 7: mixed geometry (two image sizes).
      [...phantomSeries(chestPhantom({ size: 32, slices: 20 }), { ...base, seriesUid: uid(7), seriesNumber: 7 }), ...phantomSeries(chestPhantom({ size: 16, slices: 1 }), { ...base, seriesUid: uid(7), seriesNumber: 7, seed: 'other', sliceGeometry: () => ({ imagePositionPatient: [0, 0, 100] }) })],
    ].map((s) => s.map((i) => i.bytes));
    const files = writeShuffled(path.join(tmp, 'study'), [...series, [doseReport()]]);
    writeFileSync(path.join(tmp, 'study', 'garbage.dcm'), Buffer.from('not dicom at all'));
    headers = await readSeriesHeaders([...files, path.join(tmp, 'study', 'garbage.dcm')]);
  });

  test('chooses the thin lung-kernel axial series and says why for every other', () => {
    const sel = selectSeries(headers);
    expect(sel.chosen?.seriesUid).toBe(uid(4));
    expect(sel.chosen?.reason).toMatch(/40 axial CT slices, 1 mm \(thin\), kernel B70f \(lung\)/);
    const why = (u: string) => sel.rejected.find((r) => r.seriesUid === u)?.reason;
    expect(why(uid(1))).toMatch(/localizer/);
    expect(why(uid(2))).toMatch(/ranked below series 4: thick slices \(5 mm vs 1 mm\)/);
    expect(why(uid(3))).toMatch(/ranked below series 4: no lung kernel/);
    expect(why(uid(5))).toMatch(/not axial: coronal slices, normal 90 degrees/);
    expect(why(uid(6))).toMatch(/only 5 slice\(s\), fewer than the minimum of 20/);
    expect(why(uid(7))).toMatch(/inconsistent geometry: mixed image sizes/);
    expect(why(derivedUid('sel', 'dose-series'))).toMatch(/not a CT image series: Secondary Capture Image Storage .*dose report/);
    expect(why('')).toMatch(/unreadable.*DICM/);
    expect(sel.rejected).toHaveLength(8);
  });

  test('the chosen series builds; the rules are configurable', async () => {
    const sel = selectSeries(headers);
    const v = await buildVolume(headers.filter((h) => h.seriesUid === sel.chosen!.seriesUid));
    expect(v.slices).toBe(40);
    // Without the thin-slice preference (thinSliceMm 0), kernel ranks first; with no lung patterns, most slices wins.
    expect(selectSeries(headers, { lungKernelPatterns: [], thinSliceMm: 0 }).chosen?.seriesUid).toBe(uid(3));
    expect(selectSeries(headers, { maxSliceThicknessMm: 0.5 }).chosen).toBeUndefined();
    expect(selectSeries(headers, { minSlices: 3 }).rejected.find((r) => r.seriesUid === uid(6))?.reason).toMatch(/ranked below/);
  });

  test('nothing qualifies: no choice, every series has a reason', () => {
    const sel = selectSeries(headers.filter((h) => ![uid(2), uid(3), uid(4)].includes(h.seriesUid)));
    expect(sel.chosen).toBeUndefined();
    expect(sel.rejected.every((r) => r.reason.length > 10)).toBe(true);
  });

  test('Enhanced CT competes like any series; duplicates and an unreadable file are reported', async () => {
    const dir = path.join(tmp, 'enh');
    mkdirSync(dir);
    const f = path.join(dir, 'e.dcm');
    writeFileSync(f, enhancedCtInstance(thin, { studyUid: STUDY, seriesNumber: 8 }).bytes);
    const soft = writePhantomSeries(path.join(dir, 's'), thin, { ...base, seriesUid: uid(9), seriesNumber: 9, convolutionKernel: 'B30f' });
    const hs = await readSeriesHeaders([f, ...soft]);
    const sel = selectSeries(hs);
    expect(sel.chosen?.seriesUid).toBe(hs[0].seriesUid);
    // A second copy of one file (same SOP instance) is tolerated; a different slice at the same place is not.
    const dup = await readSeriesHeaders([...soft, soft[3]]);
    expect(selectSeries(dup).chosen?.seriesUid).toBe(uid(9));
    const copy = readPart10(readFileSync(soft[0])).dataset;
    copy.SOPInstanceUID = derivedUid('sel', 'clash');
    const clash = path.join(dir, 'clash.dcm');
    writeFileSync(clash, writePart10(copy));
    const sel2 = selectSeries(await readSeriesHeaders([...soft, clash]));
    expect(sel2.chosen).toBeUndefined();
    expect(sel2.rejected[0].reason).toMatch(/duplicate slice positions/);
    writeFileSync(soft[2], Buffer.from(readFileSync(soft[2]).subarray(0, 2000)));
    const sel3 = selectSeries(await readSeriesHeaders(soft));
    expect(sel3.rejected[0].reason).toMatch(/1 of 40 instance\(s\) unreadable/);
    expect(selectSeries(await readSeriesHeaders(soft), { allowUnreadable: true, minSlices: 3 }).chosen?.seriesUid).toBe(uid(9));
  });
});
