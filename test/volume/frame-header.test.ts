/**
 * A compressed frame whose own header claims another size than Rows/Columns is refused before any decoder runs
 * (issue 17, Critical 3): JPEG lossless (SOF3), JPEG-LS (SOF55), RLE (segment header) and JPEG 2000 (SIZ).
 */
import path from 'node:path';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { LtError } from '../../src/errors';
import { TransferSyntax } from '../../src/dicom/dcmjs';
import { buildVolume, readSeriesHeaders } from '../../src/volume';
import { initDecoders } from '../../src/volume/decode';
import { frameHeaderProblem } from '../../src/volume/frame-header';
import { parseEncapsulated, parsePart10 } from '../../src/dicom/part10';
import { chestPhantom, writePhantomSeries } from '../../src/synthetic/phantom';
import { dcmtkAll, hasTool } from './helpers';
import { toJpeg2000 } from './j2k';
import { tempDir } from '../support/temp-dir';

const vol = chestPhantom({ size: 32, slices: 4, sliceSpacing: 2 });
const geometry = (ts: string) => ({ transferSyntaxUid: ts, rows: 32, columns: 32, bitsAllocated: 16, samplesPerPixel: 1 });

/** Offset of the first fragment of a file's encapsulated pixel data. */
function firstFragment(file: Buffer): number {
  const px = parsePart10(file).pixelData!;
  const { fragments } = parseEncapsulated(file, px.offset, true);
  return fragments[0].offset;
}

/** Writes 32000 x 32000 into the start-of-frame segment (marker 0xFFC3 or 0xFFF7) of the first frame. */
function claimHugeJpeg(file: string, sofMarker: number): void {
  const b = readFileSync(file);
  const at = b.indexOf(Buffer.from([0xff, sofMarker]), firstFragment(b));
  expect(at).toBeGreaterThan(0);
  b.writeUInt16BE(32000, at + 5);
  b.writeUInt16BE(32000, at + 7);
  writeFileSync(file, b);
}

async function buildError(files: string[]): Promise<LtError> {
  const e = await buildVolume(await readSeriesHeaders(files)).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LtError);
  return e as LtError;
}

const dcmtk = hasTool('dcmcjpeg') && hasTool('dcmcjpls') && hasTool('dcmcrle');
(dcmtk ? describe : describe.skip)('compressed frame headers are checked against Rows/Columns before decoding', () => {
  const tmp = tempDir('framehdr');
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  const source = () => writePhantomSeries(path.join(tmp, `src${n++}`), vol, { seed: `framehdr${n}` });
  const compressed = (tool: string, args: string[]) => {
    const src = source();
    return dcmtkAll(tool, args, path.dirname(src[0]), path.join(tmp, `out${n++}`));
  };
  beforeAll(() => initDecoders());

  test('JPEG lossless: a frame claiming 32000 x 32000 is refused with the reason, the honest series builds', async () => {
    const files = compressed('dcmcjpeg', ['+e1']);
    await expect(buildVolume(await readSeriesHeaders(files))).resolves.toBeDefined();
    claimHugeJpeg(files[2], 0xc3);
    const e = await buildError(files);
    expect(e.message).toMatch(/JPEG Lossless SV1 frame header says 32000 x 32000 pixels but Columns x Rows say 32 x 32/);
    expect(e.message).toMatch(/^instance [0-9.]+: /);
  });

  test('JPEG-LS: SOF55 claiming 32000 x 32000 is refused', async () => {
    const files = compressed('dcmcjpls', ['+el']);
    claimHugeJpeg(files[1], 0xf7);
    expect((await buildError(files)).message).toMatch(/JPEG-LS Lossless frame header says 32000 x 32000 pixels/);
  });

  test('RLE: a header with the wrong segment count or a segment too short for Rows x Columns is refused', async () => {
    const files = compressed('dcmcrle', []);
    const b = readFileSync(files[0]);
    const frag = firstFragment(b);
    b.writeUInt32LE(3, frag);
    writeFileSync(files[0], b);
    expect((await buildError(files)).message).toMatch(/RLE header says 3 segment\(s\) but Samples per Pixel 1 x Bits Allocated 16 need 2/);
    // A frame of 100 bytes cannot hold a 32 x 32 image, far less a claimed 5000 x 5000 one.
    const tiny = Buffer.alloc(100);
    tiny.writeUInt32LE(2, 0);
    tiny.writeUInt32LE(64, 4);
    tiny.writeUInt32LE(80, 8);
    expect(frameHeaderProblem(tiny, { ...geometry(TransferSyntax.Rle), rows: 5000, columns: 5000 })).toMatch(/segment 1 has 16 bytes, too few for 5000 x 5000 pixels/);
  });

  test('JPEG 2000: SIZ claiming 32000 x 32000 is refused', async () => {
    const src = source();
    const files = await toJpeg2000(src, path.join(tmp, `j2k${n++}`), TransferSyntax.Jpeg2000Lossless);
    const b = readFileSync(files[3]);
    const siz = b.indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]), firstFragment(b)) + 2;
    b.writeUInt32BE(32000, siz + 6);
    b.writeUInt32BE(32000, siz + 10);
    writeFileSync(files[3], b);
    expect((await buildError(files)).message).toMatch(/JPEG 2000 Lossless frame header says 32000 x 32000 pixels/);
  });

  test('a stream that is not JPEG at all is refused by its header, not by the decoder', () => {
    expect(frameHeaderProblem(Buffer.from('garbage'), geometry(TransferSyntax.JpegLossless))).toMatch(/does not start with an SOI marker/);
    expect(frameHeaderProblem(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 8]), geometry(TransferSyntax.JpegLossless))).toMatch(/before a frame header/);
  });
});
