/**
 * Compressed frames are decoded off the event loop (issue 17: a large RLE volume froze the gateway 3-4.5 s per attempt):
 * the largest frame the analysis takes, 4096 x 4096 in RLE, decodes on the decode thread while this thread keeps turning.
 */
import { TransferSyntax } from '../../src/dicom/dcmjs';
import { decodeFrame, initDecoders, type PixelFormat } from '../../src/volume/decode';
import { MAX_DIMENSION } from '../../src/dicom/instance-header';

/** An RLE Lossless frame (PS3.5 G.3) of `pixels` 16-bit samples, all `value`: two PackBits segments of 128-byte runs. */
function rleFrame(pixels: number, value: number): Buffer {
  const segment = (byte: number) => {
    const runs = Math.ceil(pixels / 128);
    const s = Buffer.alloc(runs * 2);
    for (let i = 0; i < runs; i++) {
      const n = Math.min(128, pixels - i * 128);
      s[2 * i] = 257 - n; // -(n - 1) as a signed byte: repeat the next byte n times
      s[2 * i + 1] = byte;
    }
    return s;
  };
  const high = segment(value >> 8); // RLE segments hold the most significant byte first
  const low = segment(value & 0xff);
  const header = Buffer.alloc(64);
  header.writeUInt32LE(2, 0);
  header.writeUInt32LE(64, 4);
  header.writeUInt32LE(64 + high.length, 8);
  return Buffer.concat([header, high, low]);
}

const fmt: PixelFormat = {
  transferSyntaxUid: TransferSyntax.Rle,
  rows: MAX_DIMENSION,
  columns: MAX_DIMENSION,
  bitsAllocated: 16,
  bitsStored: 12,
  pixelRepresentation: 0,
  samplesPerPixel: 1,
};

test('a 4096 x 4096 RLE frame decodes on the decode thread: this thread turns while it runs, the samples are exact', async () => {
  await initDecoders();
  let decoded = false;
  const samples = decodeFrame(rleFrame(MAX_DIMENSION * MAX_DIMENSION, 1000), fmt).finally(() => (decoded = true));
  let turns = 0;
  while (!decoded) {
    await new Promise((r) => setImmediate(r));
    turns++;
  }
  // Decoded on this thread, the frame would have been finished before the first turn.
  expect(turns).toBeGreaterThan(1);
  const s = await samples;
  expect(s.length).toBe(MAX_DIMENSION * MAX_DIMENSION);
  expect(s.every((v) => v === 1000)).toBe(true);
});

test('frames decoded one after another and at once all come back to their own callers', async () => {
  const small = { ...fmt, rows: 64, columns: 64 };
  const values = [1, 2, 300, 4000];
  const out = await Promise.all(values.map((v) => decodeFrame(rleFrame(64 * 64, v), small)));
  expect(out.map((s) => [s.length, s[0], s[s.length - 1]])).toEqual(values.map((v) => [64 * 64, v, v]));
});
