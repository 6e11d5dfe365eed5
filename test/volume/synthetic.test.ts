import path from 'node:path';
import { writeFileSync, rmSync } from 'node:fs';
import { buildVolume, readSeriesHeaders } from '../../src/volume';
import { chestPhantom, enhancedCtInstance, enhancedIntercept, outsideFov, storedValue, writePhantomSeries } from '../../src/synthetic/phantom';
import { TransferSyntax } from '../../src/dicom/dcmjs';
import { dcmtkAll, diff, hasTool } from './helpers';
import { tempDir } from '../support/temp-dir';

const vol = chestPhantom({ size: 64, slices: 24, sliceSpacing: 2, seed: 'syn' } as never);

describe('buildVolume on synthetic series', () => {
  const tmp = tempDir('vol');
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test('uncompressed explicit LE: exact HU, ascending positions, sources and hash', async () => {
    const files = writePhantomSeries(path.join(tmp, 'le'), vol, { seed: 'le' });
    // Shuffle the file order: the result must not depend on it.
    const shuffled = [...files].reverse();
    shuffled.push(shuffled.shift()!);
    const headers = await readSeriesHeaders(shuffled);
    expect(headers.every((h) => !h.error)).toBe(true);
    const v = await buildVolume(headers);
    expect([v.slices, v.rows, v.columns]).toEqual([24, 64, 64]);
    // The phantom writes slice z at -z * spacing: ascending order is the reverse of z.
    const expected = new Int16Array(vol.hu.length);
    for (let s = 0; s < 24; s++) expected.set(vol.hu.subarray((23 - s) * 64 * 64, (24 - s) * 64 * 64), s * 64 * 64);
    expect(diff(v.hu, expected).count).toBe(0);
    expect(v.sources.map((s) => s.position)).toEqual([...v.sources.map((s) => s.position)].sort((a, b) => a - b));
    expect(v.sliceSpacing).toBeCloseTo(2, 6);
    expect(v.pixelSpacing[0]).toBeCloseTo(350 / 64, 6);
    expect(v.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(v.warnings).toEqual([]);
    const again = await buildVolume(await readSeriesHeaders(files));
    expect(again.contentHash).toBe(v.contentHash);
  });

  test('signed pixels, BitsStored 16, rescale slope 0.5 and pixel padding', async () => {
    const opts = { seed: 'signed', signed: true, rescaleSlope: 0.5, pixelPaddingValue: -32768 };
    const files = writePhantomSeries(path.join(tmp, 'signed'), vol, opts);
    const v = await buildVolume(await readSeriesHeaders(files), { paddingHu: -1024 });
    let bad = 0;
    for (let s = 0; s < 24; s++) {
      for (let i = 0; i < 64 * 64; i++) {
        const x = i % 64;
        const y = Math.floor(i / 64);
        const want = outsideFov(64, x, y) ? -1024 : Math.round(storedValue(vol.hu[(23 - s) * 4096 + i], opts) * 0.5);
        if (v.hu[s * 4096 + i] !== want) bad++;
      }
    }
    expect(bad).toBe(0);
    expect(v.warnings.join(' ')).toMatch(/padding/);
  });

  test('BitsStored 12 with garbage in the high bits is masked', async () => {
    const files = writePhantomSeries(path.join(tmp, 'mask'), vol, { seed: 'mask' });
    // Set the top 4 (unused) bits of every pixel of slice 0 with dcmtk-independent byte surgery.
    const { readFileSync } = await import('node:fs');
    const h = (await readSeriesHeaders([files[0]]))[0];
    const buf = readFileSync(files[0]);
    for (let o = h.pixelData!.offset + 1; o < h.pixelData!.offset + h.pixelData!.length; o += 2) buf[o] |= 0xf0;
    writeFileSync(files[0], buf);
    const clean = await buildVolume(await readSeriesHeaders(writePhantomSeries(path.join(tmp, 'mask2'), vol, { seed: 'mask' })));
    const v = await buildVolume(await readSeriesHeaders(files));
    expect(diff(v.hu, clean.hu).count).toBe(0);
  });

  test('Enhanced CT multi-frame: shuffled frames, per-frame rescale', async () => {
    const order = Array.from({ length: 24 }, (_, z) => (z * 7) % 24);
    const inst = enhancedCtInstance(vol, { frameOrder: order, perFrameRescale: true });
    const file = path.join(tmp, 'enhanced.dcm');
    writeFileSync(file, inst.bytes);
    const headers = await readSeriesHeaders([file]);
    expect(headers[0].error).toBeUndefined();
    expect(headers[0].numberOfFrames).toBe(24);
    expect(headers[0].convolutionKernel).toBe('LUNG');
    expect(new Set(headers[0].frames.map((f) => f.rescaleIntercept))).toEqual(new Set([-1024, -1025, -1026]));
    const v = await buildVolume(headers);
    const expected = new Int16Array(vol.hu.length);
    for (let s = 0; s < 24; s++) {
      const z = 23 - s;
      for (let i = 0; i < 4096; i++) expected[s * 4096 + i] = Math.max(vol.hu[z * 4096 + i], enhancedIntercept(z, true));
    }
    expect(diff(v.hu, expected).count).toBe(0);
    expect(v.sources[0].frameNumber).toBe(order.indexOf(23) + 1);
    expect(v.sources.every((s) => s.sopClassUid === '1.2.840.10008.5.1.4.1.1.2.1')).toBe(true);
  });

  const dcmtk = hasTool('dcmconv') && hasTool('dcmcjpeg');
  (dcmtk ? describe : describe.skip)('every transfer syntax, bit-exact against dcmtk (synthetic)', () => {
    let src: string;
    let ref: Awaited<ReturnType<typeof buildVolume>>;
    beforeAll(async () => {
      src = path.join(tmp, 'src');
      writePhantomSeries(src, vol, { seed: 'ts', transferSyntax: TransferSyntax.ImplicitLittle });
      ref = await buildVolume(await readSeriesHeaders(dcmtkAll('dcmconv', ['+te'], src, path.join(tmp, 'ref'))));
    });
    const lossless: [string, string, string[], string][] = [
      ['implicit LE', 'dcmconv', ['+ti'], TransferSyntax.ImplicitLittle],
      ['explicit BE', 'dcmconv', ['+tb'], TransferSyntax.ExplicitBig],
      ['deflate', 'dcmconv', ['+td'], TransferSyntax.DeflatedExplicitLittle],
      ['RLE', 'dcmcrle', [], TransferSyntax.Rle],
      ['JPEG lossless SV1, 1 KB fragments', 'dcmcjpeg', ['+e1', '+fs', '1'], TransferSyntax.JpegLosslessSV1],
      ['JPEG lossless process 14, predictor 6', 'dcmcjpeg', ['+el', '+sv', '6'], TransferSyntax.JpegLossless],
      ['JPEG-LS lossless, 1 KB fragments', 'dcmcjpls', ['+el', '+fs', '1'], TransferSyntax.JpegLsLossless],
    ];
    test.each(lossless)('%s equals the original', async (_name, tool, args, ts) => {
      const files = dcmtkAll(tool, args, src, path.join(tmp, ts));
      const headers = await readSeriesHeaders(files);
      expect(headers[0].transferSyntaxUid).toBe(ts);
      const v = await buildVolume(headers);
      expect(diff(v.hu, ref.hu).count).toBe(0);
      expect(v.contentHash).toBe(ref.contentHash);
    });
    const lossy: [string, string, string[], string, string][] = [
      ['JPEG extended 12-bit', 'dcmcjpeg', ['+ee'], TransferSyntax.JpegExtended, 'dcmdjpeg'],
      ['JPEG baseline 8-bit', 'dcmcjpeg', ['+eb'], TransferSyntax.JpegBaseline, 'dcmdjpeg'],
      ['JPEG-LS near-lossless', 'dcmcjpls', ['+en'], TransferSyntax.JpegLsNearLossless, 'dcmdjpls'],
    ];
    test.each(lossy)('%s equals dcmtk decompression', async (_name, tool, args, ts, dtool) => {
      const files = dcmtkAll(tool, args, src, path.join(tmp, ts));
      const v = await buildVolume(await readSeriesHeaders(files));
      const d = await buildVolume(await readSeriesHeaders(dcmtkAll(dtool, [], path.join(tmp, ts), path.join(tmp, ts + '-d'))));
      expect(diff(v.hu, d.hu).count).toBe(0);
      expect(v.warnings.join(' ')).toMatch(/lossy/);
    });
  });
});
