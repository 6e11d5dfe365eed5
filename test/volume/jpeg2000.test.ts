import { rmSync } from 'node:fs';
import path from 'node:path';
import { buildVolume, readSeriesHeaders } from '../../src/volume';
import { chestPhantom, writePhantomSeries } from '../../src/synthetic/phantom';
import { TransferSyntax } from '../../src/dicom/dcmjs';
import { diff } from './helpers';
import { pydicomHu, toJpeg2000 } from './j2k';
import { tempDir } from '../support/temp-dir';

// dcmtk (3.6.7) has no JPEG 2000 codec: the independent reference is pydicom + Pillow (OpenJPEG).
describe('JPEG 2000 (synthetic)', () => {
  const tmp = tempDir('vol');
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const vol = chestPhantom({ size: 64, slices: 12, sliceSpacing: 2 });
  let src: string[];
  beforeAll(() => {
    src = writePhantomSeries(path.join(tmp, 'src'), vol, { seed: 'j2k' });
  });

  test('lossless equals the original and pydicom', async () => {
    const ref = await buildVolume(await readSeriesHeaders(src));
    const files = await toJpeg2000(src, path.join(tmp, 'j2kl'), TransferSyntax.Jpeg2000Lossless);
    const headers = await readSeriesHeaders(files);
    expect(headers[0].transferSyntaxUid).toBe(TransferSyntax.Jpeg2000Lossless);
    const v = await buildVolume(headers);
    expect(diff(v.hu, ref.hu).count).toBe(0);
    const py = pydicomHu(v.sources.map((s) => headers.find((h) => h.sopInstanceUid === s.sopInstanceUid)!.path));
    expect(py).not.toBeNull();
    expect(diff(v.hu, py!).count).toBe(0);
  });

  test('lossy equals pydicom + Pillow and stays close to the original', async () => {
    const ref = await buildVolume(await readSeriesHeaders(src));
    const files = await toJpeg2000(src, path.join(tmp, 'j2k'), TransferSyntax.Jpeg2000, 10);
    const headers = await readSeriesHeaders(files);
    expect(headers[0].transferSyntaxUid).toBe(TransferSyntax.Jpeg2000);
    const v = await buildVolume(headers);
    const py = pydicomHu(v.sources.map((s) => headers.find((h) => h.sopInstanceUid === s.sopInstanceUid)!.path));
    expect(py).not.toBeNull();
    expect(diff(v.hu, py!).count).toBe(0);
    expect(diff(v.hu, ref.hu).count).toBeGreaterThan(0); // really lossy
    let sum = 0;
    for (let i = 0; i < ref.hu.length; i++) sum += Math.abs(ref.hu[i] - v.hu[i]);
    expect(sum / ref.hu.length).toBeLessThan(40);
    expect(v.warnings.join(' ')).toMatch(/lossy/);
  });
});
