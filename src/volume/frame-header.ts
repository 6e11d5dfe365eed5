/**
 * Checks the image size written inside a compressed frame (JPEG SOF, JPEG-LS SOF55, JPEG 2000 SIZ, the RLE header)
 * against Rows, Columns, Samples per Pixel and Bits Allocated before any decoder runs: the codecs allocate what the
 * frame says, so a small frame claiming 32000 x 32000 pixels would otherwise take gigabytes before being compared.
 */
import { TransferSyntax } from '../dicom/dcmjs';

/** The frame attributes the check compares with. */
export interface FrameGeometry {
  transferSyntaxUid: string;
  rows: number;
  columns: number;
  bitsAllocated: number;
  samplesPerPixel: number;
}

const JPEG: ReadonlySet<string> = new Set([TransferSyntax.JpegBaseline, TransferSyntax.JpegExtended, TransferSyntax.JpegLossless, TransferSyntax.JpegLosslessSV1]);
const JPEG_LS: ReadonlySet<string> = new Set([TransferSyntax.JpegLsLossless, TransferSyntax.JpegLsNearLossless]);
const JPEG_2000: ReadonlySet<string> = new Set([TransferSyntax.Jpeg2000Lossless, TransferSyntax.Jpeg2000]);

/** JPEG start-of-frame markers (ITU T.81 B.1.1.3): C0-CF except DHT (C4), JPG (C8) and DAC (CC); F7 is JPEG-LS SOF55. */
const isSof = (m: number) => (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) || m === 0xf7;

function compare(codec: string, got: { columns: number; rows: number; components: number; precision: number }, g: FrameGeometry): string | undefined {
  if (got.columns !== g.columns || got.rows !== g.rows) {
    return `${codec} frame header says ${got.columns} x ${got.rows} pixels but Columns x Rows say ${g.columns} x ${g.rows}`;
  }
  if (got.components !== g.samplesPerPixel) return `${codec} frame header says ${got.components} component(s) but Samples per Pixel is ${g.samplesPerPixel}`;
  if (got.precision < 1 || got.precision > g.bitsAllocated) return `${codec} frame header says ${got.precision}-bit samples but Bits Allocated is ${g.bitsAllocated}`;
  return undefined;
}

/** JPEG and JPEG-LS: the first start-of-frame segment (P, Y, X, Nf), found by walking the marker segments from SOI. */
function jpegProblem(codec: string, d: Uint8Array, g: FrameGeometry): string | undefined {
  if (d.length < 4 || d[0] !== 0xff || d[1] !== 0xd8) return `corrupt ${codec} stream: the frame does not start with an SOI marker`;
  let pos = 2;
  for (;;) {
    while (pos < d.length && d[pos] === 0xff && d[pos + 1] === 0xff) pos++; // fill bytes
    if (pos + 4 > d.length) return `corrupt ${codec} stream: no frame header (SOF) before the end of the frame`;
    if (d[pos] !== 0xff) return `corrupt ${codec} stream: expected a marker at byte ${pos}`;
    const marker = d[pos + 1];
    const len = (d[pos + 2] << 8) | d[pos + 3];
    if (isSof(marker)) {
      if (len < 8 || pos + 2 + len > d.length) return `corrupt ${codec} stream: truncated frame header`;
      const precision = d[pos + 4];
      const rows = (d[pos + 5] << 8) | d[pos + 6];
      const columns = (d[pos + 7] << 8) | d[pos + 8];
      const components = d[pos + 9];
      if (rows === 0) return `${codec} frame header leaves the number of lines to a DNL marker: not accepted`;
      return compare(codec, { columns, rows, components, precision }, g);
    }
    if (marker === 0xda || marker === 0xd9) return `corrupt ${codec} stream: scan or end of image before a frame header (SOF)`;
    if (len < 2) return `corrupt ${codec} stream: marker segment of length ${len} at byte ${pos}`;
    pos += 2 + len;
  }
}

/** JPEG 2000: the SIZ segment that follows SOC (also inside a JP2 file's codestream box). */
function j2kProblem(codec: string, d: Uint8Array, g: FrameGeometry): string | undefined {
  let at = -1;
  for (let i = 0; i + 3 < Math.min(d.length, 4096); i++) {
    if (d[i] === 0xff && d[i + 1] === 0x4f && d[i + 2] === 0xff && d[i + 3] === 0x51) {
      at = i + 2;
      break;
    }
  }
  if (at < 0) return `corrupt ${codec} stream: no SOC marker followed by an image and tile size (SIZ) segment`;
  if (at + 42 > d.length) return `corrupt ${codec} stream: truncated SIZ segment`;
  const b = Buffer.from(d.buffer, d.byteOffset + at, d.length - at);
  const width = b.readUInt32BE(6) - b.readUInt32BE(14);
  const height = b.readUInt32BE(10) - b.readUInt32BE(18);
  const components = b.readUInt16BE(38);
  if (at + 40 + 3 * components > d.length) return `corrupt ${codec} stream: truncated SIZ segment`;
  let precision = 0;
  for (let c = 0; c < components; c++) precision = Math.max(precision, (b[40 + 3 * c] & 0x7f) + 1);
  return compare(codec, { columns: width, rows: height, components, precision }, g);
}

/** RLE (PS3.5 G.3): the segment count must match the samples and bytes per sample, the offsets must lie in the frame. */
function rleProblem(d: Uint8Array, g: FrameGeometry): string | undefined {
  if (d.length < 64) return `corrupt RLE Lossless stream: ${d.length} bytes, shorter than the 64-byte RLE header`;
  const b = Buffer.from(d.buffer, d.byteOffset, d.length);
  const segments = b.readUInt32LE(0);
  const expected = g.samplesPerPixel * Math.ceil(g.bitsAllocated / 8);
  if (segments !== expected) {
    return `RLE header says ${segments} segment(s) but Samples per Pixel ${g.samplesPerPixel} x Bits Allocated ${g.bitsAllocated} need ${expected}`;
  }
  const pixels = g.rows * g.columns;
  for (let s = 0; s < segments; s++) {
    const start = b.readUInt32LE(4 + 4 * s);
    const end = s + 1 < segments ? b.readUInt32LE(8 + 4 * s) : d.length;
    if (start < 64 || end <= start || end > d.length) return `corrupt RLE Lossless stream: segment ${s + 1} offset ${start} lies outside the frame or out of order`;
    // One PackBits replicate run (2 bytes) yields at most 128 bytes: a shorter segment cannot hold Rows x Columns.
    if ((end - start) * 64 < pixels) return `corrupt RLE Lossless stream: segment ${s + 1} has ${end - start} bytes, too few for ${g.columns} x ${g.rows} pixels`;
  }
  return undefined;
}

/**
 * Why a compressed frame cannot be what Rows/Columns/Samples per Pixel/Bits Allocated describe, read from its own
 * header without decoding; undefined when it matches (or the syntax is not a compressed one checked here).
 */
export function frameHeaderProblem(data: Uint8Array, g: FrameGeometry, codec = g.transferSyntaxUid): string | undefined {
  const ts = g.transferSyntaxUid;
  if (JPEG.has(ts) || JPEG_LS.has(ts)) return jpegProblem(codec, data, g);
  if (JPEG_2000.has(ts)) return j2kProblem(codec, data, g);
  if (ts === TransferSyntax.Rle) return rleProblem(data, g);
  return undefined;
}
