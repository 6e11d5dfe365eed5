import path from 'node:path';
import { readdirSync, rmSync } from 'node:fs';
import { buildVolume, readSeriesHeaders } from '../../src/volume';
import { selectSeries } from '../../src/study/series-selection';
import type { HuVolume } from '../../src/volume';
import { TransferSyntax } from '../../src/dicom/dcmjs';
import { describeWithSharedData, sharedData } from '../support/shared-data';
import { dcmtkAll, diff, filesIn, hasTool } from './helpers';
import { pydicomHu, toJpeg2000 } from './j2k';
import { tempDir } from '../support/temp-dir';

const REL = 'thorax-ct-dicom/series';
jest.setTimeout(600_000);

// Every syntax is made at test time in a temp dir from the real series (never committed) and must give the same
// HU volume as the original (lossless) or exactly dcmtk's decompression (lossy).
describeWithSharedData(REL, 'real thorax series (141 slices) in every transfer syntax', () => {
  const tmp = tempDir('thorax');
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const src = sharedData(REL);
  let ref: HuVolume;
  let names: string[];
  // Every 10th slice: the subset decompressed by dcmtk for the lossless bit-exact check (dcmtk runs one file per process).
  let subset: string[];

  beforeAll(async () => {
    names = readdirSync(src).sort();
    subset = names.filter((_, i) => i % 10 === 0);
    const headers = await readSeriesHeaders(filesIn(src));
    const sel = selectSeries(headers);
    expect(sel.chosen).toBeDefined();
    ref = await buildVolume(headers.filter((h) => h.seriesUid === sel.chosen!.seriesUid));
  });

  test('original: 141 ascending slices, plausible HU', () => {
    expect([ref.slices, ref.rows, ref.columns]).toEqual([141, 512, 512]);
    const pos = ref.sources.map((s) => s.position);
    expect(pos).toEqual([...pos].sort((a, b) => a - b));
    let air = 0;
    for (let i = 0; i < ref.hu.length; i += 97) if (ref.hu[i] < -900) air++;
    expect(air / (ref.hu.length / 97)).toBeGreaterThan(0.2);
  });

  const dcmtk = hasTool('dcmcjpeg') && hasTool('dcmcjpls') && hasTool('dcmcrle');
  const lossless: [string, string, string[], string, string | null][] = [
    ['explicit VR big endian', 'dcmconv', ['+tb'], TransferSyntax.ExplicitBig, null],
    ['deflate', 'dcmconv', ['+td'], TransferSyntax.DeflatedExplicitLittle, null],
    ['RLE lossless', 'dcmcrle', [], TransferSyntax.Rle, 'dcmdrle'],
    ['JPEG lossless SV1, 16 KB fragments', 'dcmcjpeg', ['+e1', '+fs', '16'], TransferSyntax.JpegLosslessSV1, 'dcmdjpeg'],
    ['JPEG lossless process 14, predictor 7', 'dcmcjpeg', ['+el', '+sv', '7'], TransferSyntax.JpegLossless, 'dcmdjpeg'],
    ['JPEG-LS lossless, 32 KB fragments', 'dcmcjpls', ['+el', '+fs', '32'], TransferSyntax.JpegLsLossless, 'dcmdjpls'],
  ];
  (dcmtk ? test.each(lossless) : test.skip.each(lossless))('%s: same HU volume; bit-exact with dcmtk', async (_n, tool, args, ts, dtool) => {
    const dir = path.join(tmp, ts);
    const files = dcmtkAll(tool, args, src, dir, names);
    const headers = await readSeriesHeaders(files);
    expect(headers.every((h) => h.transferSyntaxUid === ts && !h.error)).toBe(true);
    const v = await buildVolume(headers);
    expect(diff(v.hu, ref.hu)).toEqual({ count: 0, first: -1, maxAbs: 0 });
    expect(v.contentHash).toBe(ref.contentHash);
    if (dtool) {
      const ours = await buildVolume(await readSeriesHeaders(subset.map((n) => path.join(dir, n))));
      const theirs = await buildVolume(await readSeriesHeaders(dcmtkAll(dtool, [], dir, dir + '-d', subset)));
      expect(diff(ours.hu, theirs.hu).count).toBe(0);
    }
  });

  const lossy: [string, string, string[], string, string][] = [
    ['JPEG extended (12-bit lossy)', 'dcmcjpeg', ['+ee'], TransferSyntax.JpegExtended, 'dcmdjpeg'],
    ['JPEG baseline (8-bit lossy)', 'dcmcjpeg', ['+eb'], TransferSyntax.JpegBaseline, 'dcmdjpeg'],
    ['JPEG-LS near-lossless', 'dcmcjpls', ['+en'], TransferSyntax.JpegLsNearLossless, 'dcmdjpls'],
  ];
  // Lossy syntaxes on the every-10th-slice subset (15 slices), to keep the suite's time down.
  (dcmtk ? test.each(lossy) : test.skip.each(lossy))('%s: bit-exact with dcmtk decompression', async (_n, tool, args, ts, dtool) => {
    const dir = path.join(tmp, ts);
    const files = dcmtkAll(tool, args, src, dir, subset);
    const v = await buildVolume(await readSeriesHeaders(files));
    const d = await buildVolume(await readSeriesHeaders(dcmtkAll(dtool, [], dir, dir + '-d', subset)));
    const r = await buildVolume(await readSeriesHeaders(subset.map((n) => path.join(src, n))));
    expect(diff(v.hu, d.hu).count).toBe(0);
    expect(v.warnings.join(' ')).toMatch(/lossy/);
    // Near the original: the lossy step is small relative to the HU range.
    let sum = 0;
    for (let i = 0; i < v.hu.length; i++) sum += Math.abs(v.hu[i] - r.hu[i]);
    expect(sum / v.hu.length).toBeLessThan(ts === TransferSyntax.JpegBaseline ? 40 : 10);
  });

  test('JPEG 2000 lossless (encoded by OpenJPEG in dcmjs-codecs): same HU volume, equal to pydicom + Pillow', async () => {
    const files = await toJpeg2000(filesIn(src), path.join(tmp, 'j2k'), TransferSyntax.Jpeg2000Lossless);
    const v = await buildVolume(await readSeriesHeaders(files));
    expect(diff(v.hu, ref.hu).count).toBe(0);
    const sub = await readSeriesHeaders(subset.map((n) => path.join(tmp, 'j2k', n)));
    const ours = await buildVolume(sub);
    const py = pydicomHu(ours.sources.map((s) => sub.find((h) => h.sopInstanceUid === s.sopInstanceUid)!.path));
    expect(py).not.toBeNull();
    expect(diff(ours.hu, py!).count).toBe(0);
  });

  test('JPEG 2000 lossy: equal to pydicom + Pillow', async () => {
    const files = await toJpeg2000(subset.map((n) => path.join(src, n)), path.join(tmp, 'j2k-lossy'), TransferSyntax.Jpeg2000, 20);
    const v = await buildVolume(await readSeriesHeaders(files));
    const byUid = new Map((await readSeriesHeaders(files)).map((h) => [h.sopInstanceUid, h.path]));
    const ordered = pydicomHu(v.sources.map((s) => byUid.get(s.sopInstanceUid)!));
    expect(ordered).not.toBeNull();
    expect(diff(v.hu, ordered!).count).toBe(0);
  });
});
