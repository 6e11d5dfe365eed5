import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, truncateSync, rmSync } from 'node:fs';
import { LtError } from '../../src/errors';
import { buildVolume, readSeriesHeaders } from '../../src/volume';
import { selectSeries } from '../../src/study/series-selection';
import { chestPhantom, phantomSeries, writePhantomSeries } from '../../src/synthetic/phantom';
import { dcmtkAll, hasTool } from './helpers';
import { tempDir } from '../support/temp-dir';

const vol = chestPhantom({ size: 32, slices: 6, sliceSpacing: 2 });

async function buildError(files: string[]): Promise<LtError> {
  try {
    await buildVolume(await readSeriesHeaders(files));
  } catch (e) {
    expect(e).toBeInstanceOf(LtError);
    return e as LtError;
  }
  throw new Error('expected buildVolume to fail');
}

describe('bad input gives a precise LtError, never a crash', () => {
  const tmp = tempDir('bad');
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  const series = (opts = {}) => writePhantomSeries(path.join(tmp, `s${n++}`), vol, { seed: `bad${n}`, ...opts });

  test('truncated native pixel data', async () => {
    const files = series();
    truncateSync(files[2], readFileSync(files[2]).length - 100);
    const h = await readSeriesHeaders(files);
    expect(h[2].error).toMatch(/truncated pixel data: Pixel Data declares 2048 bytes but the file ends 100 bytes early/);
    expect((await buildError(files)).message).toMatch(/truncated pixel data/);
  });

  test('not a DICOM file, an empty file, a missing file', async () => {
    const files = series();
    writeFileSync(files[0], 'hello');
    writeFileSync(files[1], '');
    const h = await readSeriesHeaders([...files, path.join(tmp, 'nope.dcm')]);
    expect(h[0].error).toMatch(/not a DICOM Part 10 file: only 5 bytes/);
    expect(h[1].error).toMatch(/not a DICOM Part 10 file/);
    expect(h[6].error).toBe('file not found');
  });

  test('truncated header', async () => {
    const files = series();
    truncateSync(files[0], 400);
    const h = await readSeriesHeaders(files);
    expect(h[0].error).toMatch(/truncated file: .* runs to byte \d+ but the data ends at byte 400|truncated pixel data/);
  });

  test('a single slice', async () => {
    const files = series();
    expect((await buildError(files.slice(0, 1))).message).toBe('only 1 slice(s): a volume needs at least 2');
  });

  test('rows/columns not matching the data (native)', async () => {
    const files = series();
    const buf = readFileSync(files[1]);
    // Rows (0028,0010) US 32 -> 40: find the element in explicit VR LE and patch its value.
    const at = buf.indexOf(Buffer.from([0x28, 0x00, 0x10, 0x00, 0x55, 0x53, 0x02, 0x00]));
    buf.writeUInt16LE(40, at + 8);
    writeFileSync(files[1], buf);
    expect((await buildError(files)).message).toMatch(/pixel data too short: 2048 bytes for Rows 40 x Columns 32/);
  });

  test('missing geometry and mixed orientation', async () => {
    const files = series();
    const buf = readFileSync(files[3]);
    const at = buf.indexOf(Buffer.from([0x20, 0x00, 0x32, 0x00, 0x44, 0x53]));
    buf.writeUInt16LE(0x0099, at + 2); // (0020,0032) -> (0020,0099): Image Position gone
    writeFileSync(files[3], buf);
    expect((await buildError(files)).message).toMatch(/missing Image Position \(Patient\) \(0020,0032\) on instance/);
    const tilted = series({ sliceGeometry: (z: number) => ({ imagePositionPatient: [0, 0, -2 * z], imageOrientationPatient: z === 2 ? [1, 0, 0, 0, 0.9848, -0.1736] : [1, 0, 0, 0, 1, 0] }) });
    expect((await buildError(tilted)).message).toMatch(/mixed orientations: .* by 10 degrees/);
  });

  test('gap, uneven spacing, gantry tilt are warnings', async () => {
    const z = [0, 2, 4, 8, 10, 12.5];
    const files = series({ sliceGeometry: (k: number) => ({ imagePositionPatient: [0, -z[k] * Math.tan(Math.PI / 36), -z[k]] }) });
    const v = await buildVolume(await readSeriesHeaders(files));
    const w = v.warnings.join('\n');
    expect(w).toMatch(/gap: about 1 missing slice\(s\) in 1 place\(s\); first between -8 and -4 mm/);
    expect(w).toMatch(/uneven slice spacing/);
    expect(w).toMatch(/gantry tilt or sheared stack: slice origins advance 5(\.0)? degrees/);
    expect(v.sources.map((s) => s.position)).toEqual([-12.5, -10, -8, -4, -2, 0]);
  });

  test('a 2000-slice study is refused by limit, without decoding', async () => {
    // One slice written by the phantom, cloned 2000 times with its SOP Instance UID and z position patched in place.
    const tmpl = phantomSeries(chestPhantom({ size: 8, slices: 1, noise: 0, lesions: [] }), { seed: 'big', sliceGeometry: () => ({ imagePositionPatient: [0, 0, -999.5] }) })[0];
    const uid = Buffer.from(tmpl.sopInstanceUid);
    const dir = path.join(tmp, 'big');
    mkdirSync(dir);
    const files = Array.from({ length: 2000 }, (_, k) => {
      const b = Buffer.from(tmpl.bytes);
      const newUid = Buffer.from(tmpl.sopInstanceUid.slice(0, -4) + String(k).padStart(4, '0'));
      for (let at = b.indexOf(uid); at >= 0; at = b.indexOf(uid, at + 1)) newUid.copy(b, at);
      Buffer.from((-k * 0.5).toFixed(1).padStart(6)).copy(b, b.indexOf('-999.5'));
      const f = path.join(dir, `${k}.dcm`);
      writeFileSync(f, b);
      return f;
    });
    const h = await readSeriesHeaders(files);
    expect(selectSeries(h).rejected[0].reason).toBe('2000 slices, more than the maximum of 1500');
    await expect(buildVolume(h)).rejects.toThrow('2000 slices exceed the limit of 1500 slices per volume');
    await expect(buildVolume(h, { maxSlices: 5000, maxBytes: 100_000 })).rejects.toThrow(/volume of 2000 x 8 x 8 voxels needs 256000 bytes, above the limit of 100000 bytes/);
    const v = await buildVolume(h, { maxSlices: 5000 });
    expect(v.slices).toBe(2000);
  });

  const dcmtk = hasTool('dcmcjpeg');
  (dcmtk ? test : test.skip)('broken and truncated compressed streams, wrong Rows for a JPEG frame', async () => {
    const src = series();
    const jl = dcmtkAll('dcmcjpeg', ['+e1'], path.dirname(src[0]), path.join(tmp, 'jl'));
    const h = await readSeriesHeaders(jl);
    // 1. Destroy the entropy-coded data of one frame, keep its length.
    const b = readFileSync(jl[1]);
    const off = h[1].pixelData!.offset;
    for (let i = off + 16 + 8; i < b.length - 20; i++) b[i] = 0;
    b.fill(0, off + 16 + 8, off + 16 + 8 + 4); // kill the SOI marker too
    writeFileSync(jl[1], b);
    expect((await buildError(jl)).message).toMatch(/^instance [\d.]+: corrupt JPEG Lossless SV1 stream/);
    // The codec module still works after a failure.
    const ok = dcmtkAll('dcmcjpeg', ['+e1'], path.dirname(src[0]), path.join(tmp, 'jl2'));
    await expect(buildVolume(await readSeriesHeaders(ok))).resolves.toBeDefined();
    // 2. Truncated in the middle of the fragment.
    truncateSync(ok[2], readFileSync(ok[2]).length - 300);
    expect((await buildError(ok)).message).toMatch(/truncated pixel data: fragment 1 declares \d+ bytes but only \d+ remain/);
    // 3. Rows that do not match the compressed image.
    const ok3 = dcmtkAll('dcmcjpeg', ['+e1'], path.dirname(src[0]), path.join(tmp, 'jl3'));
    execFileSync('dcmodify', ['-nb', '-m', '(0028,0010)=16', ok3[0]]);
    expect((await buildError(ok3)).message).toMatch(/mixed image sizes|frame (is|header says) 32 x 32 pixels but Columns x Rows say 32 x 16/);
    execFileSync('dcmodify', ['-nb', '-m', '(0028,0010)=16', ...ok3.slice(1)]);
    expect((await buildError(ok3)).message).toMatch(/frame (is|header says) 32 x 32 pixels but Columns x Rows say 32 x 16|decoded to \d+ bytes, expected 1024/);
  });
});
