/**
 * Frame decoding behind one interface, so the codec library can be swapped. Native (uncompressed) frames are read
 * directly; compressed frames go to dcmjs-codecs (WebAssembly builds of libjpeg-turbo/IJG for JPEG baseline, extended
 * and lossless, CharLS for JPEG-LS, OpenJPEG for JPEG 2000, and an RLE decoder), shipped inside the npm package.
 *
 * A decoded frame is returned as the stored pixel words (PS3.5 8.1.1) in an unsigned container of Bits Allocated width;
 * masking to Bits Stored, sign extension and the modality LUT are done by the caller (hu.ts).
 */
import path from 'node:path';
import { Context, NativeCodecs } from 'dcmjs-codecs';
import { LtError } from '../errors';
import { TransferSyntax } from '../dicom/dcmjs';
import { frameHeaderProblem } from './frame-header';

/** What a decoder needs to know about a frame. */
export interface PixelFormat {
  transferSyntaxUid: string;
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  samplesPerPixel: number;
  photometricInterpretation?: string;
}

/** Stored pixel words of one frame, native byte order. */
export type StoredSamples = Uint8Array | Uint16Array | Uint32Array;

type Decoder = (ctx: Context) => Context;

const NATIVE: ReadonlySet<string> = new Set([TransferSyntax.ImplicitLittle, TransferSyntax.ExplicitLittle, TransferSyntax.DeflatedExplicitLittle, TransferSyntax.ExplicitBig]);

const CODECS: Record<string, { name: string; decode: Decoder }> = {
  [TransferSyntax.Rle]: { name: 'RLE Lossless', decode: (c) => NativeCodecs.decodeRle(c, {}) },
  [TransferSyntax.JpegBaseline]: { name: 'JPEG Baseline', decode: (c) => NativeCodecs.decodeJpeg(c, { convertColorspaceToRgb: false }) },
  [TransferSyntax.JpegExtended]: { name: 'JPEG Extended', decode: (c) => NativeCodecs.decodeJpeg(c, { convertColorspaceToRgb: false }) },
  [TransferSyntax.JpegLossless]: { name: 'JPEG Lossless (Process 14)', decode: (c) => NativeCodecs.decodeJpeg(c, { convertColorspaceToRgb: false }) },
  [TransferSyntax.JpegLosslessSV1]: { name: 'JPEG Lossless SV1', decode: (c) => NativeCodecs.decodeJpeg(c, { convertColorspaceToRgb: false }) },
  [TransferSyntax.JpegLsLossless]: { name: 'JPEG-LS Lossless', decode: (c) => NativeCodecs.decodeJpegLs(c, {}) },
  [TransferSyntax.JpegLsNearLossless]: { name: 'JPEG-LS Near-Lossless', decode: (c) => NativeCodecs.decodeJpegLs(c, {}) },
  [TransferSyntax.Jpeg2000Lossless]: { name: 'JPEG 2000 Lossless', decode: (c) => NativeCodecs.decodeJpeg2000(c, {}) },
  [TransferSyntax.Jpeg2000]: { name: 'JPEG 2000', decode: (c) => NativeCodecs.decodeJpeg2000(c, {}) },
};

/** Every transfer syntax this module decodes. */
export const SUPPORTED_TRANSFER_SYNTAXES: readonly string[] = [...NATIVE, ...Object.keys(CODECS)];

/** True when frames of this transfer syntax can be decoded. */
export function isSupportedTransferSyntax(ts: string): boolean {
  return NATIVE.has(ts) || ts in CODECS;
}

/** True when the transfer syntax keeps pixel data encapsulated (compressed). */
export function isEncapsulatedSyntax(ts: string): boolean {
  return ts in CODECS;
}

/** True when the decoded values are exactly the values that were encoded. */
export function isLosslessSyntax(ts: string): boolean {
  return NATIVE.has(ts) || [TransferSyntax.Rle, TransferSyntax.JpegLossless, TransferSyntax.JpegLosslessSV1, TransferSyntax.JpegLsLossless, TransferSyntax.Jpeg2000Lossless].includes(ts as never);
}

let init: Promise<void> | undefined;

/** Loads the WebAssembly codecs (once; local file, nothing is downloaded). */
export function initDecoders(): Promise<void> {
  if (NativeCodecs.isInitialized()) return Promise.resolve();
  init ??= NativeCodecs.initializeAsync({
    webAssemblyModulePathOrUrl: path.join(path.dirname(require.resolve('dcmjs-codecs')), 'dcmjs-native-codecs.wasm'),
    logCodecsInfo: false,
    logCodecsTrace: false,
  }).catch((e: unknown) => {
    init = undefined;
    throw LtError.internal(`cannot load the image codecs: ${(e as Error).message}`);
  });
  return init;
}

function bytesPerSample(bitsAllocated: number): number {
  if (bitsAllocated === 8) return 1;
  if (bitsAllocated === 16) return 2;
  if (bitsAllocated === 32) return 4;
  throw LtError.invalid(`unsupported Bits Allocated ${bitsAllocated}: only 8, 16 and 32 are decoded`);
}

/** Views (or, when unaligned, copies) bytes as stored words of the given width, swapping from big endian if asked. */
function asSamples(bytes: Uint8Array, bitsAllocated: number, count: number, bigEndian: boolean): StoredSamples {
  const bps = bytesPerSample(bitsAllocated);
  if (bps === 1) return bytes.subarray(0, count);
  const need = count * bps;
  let src = bytes.subarray(0, need);
  if (bigEndian || src.byteOffset % bps !== 0) {
    const copy = new Uint8Array(need);
    copy.set(src);
    src = copy;
    if (bigEndian) {
      const b = Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength);
      if (bps === 2) b.swap16();
      else b.swap32();
    }
  }
  return bps === 2 ? new Uint16Array(src.buffer, src.byteOffset, count) : new Uint32Array(src.buffer, src.byteOffset, count);
}

/**
 * Decodes one frame to stored pixel words. `data` is the frame's native bytes (uncompressed syntaxes) or the
 * concatenated fragments of the frame (encapsulated syntaxes). Call initDecoders() once before compressed frames.
 * Throws LtError.invalid naming the problem for a broken stream or a frame that does not match Rows x Columns; a
 * compressed frame's own header (SOF, SIZ, RLE header) is checked against them before the decoder runs.
 */
export function decodeFrame(data: Uint8Array, fmt: PixelFormat): StoredSamples {
  const count = fmt.rows * fmt.columns * fmt.samplesPerPixel;
  const bps = bytesPerSample(fmt.bitsAllocated);
  if (NATIVE.has(fmt.transferSyntaxUid)) {
    if (data.byteLength < count * bps) {
      throw LtError.invalid(`pixel data too short: ${data.byteLength} bytes for a ${fmt.rows} x ${fmt.columns} frame of ${bps}-byte samples (${count * bps} bytes)`);
    }
    return asSamples(data, fmt.bitsAllocated, count, fmt.transferSyntaxUid === TransferSyntax.ExplicitBig);
  }
  const codec = CODECS[fmt.transferSyntaxUid];
  if (!codec) throw LtError.invalid(`unsupported transfer syntax ${fmt.transferSyntaxUid}`);
  if (!NativeCodecs.isInitialized()) throw LtError.internal('image codecs not initialised: call initDecoders() first');
  if (data.byteLength === 0) throw LtError.invalid(`corrupt ${codec.name} stream: the frame has no compressed data`);
  // The decoders allocate the size the frame claims: compare it with Rows/Columns before they run.
  const problem = frameHeaderProblem(data, fmt, codec.name);
  if (problem) throw LtError.invalid(problem);
  const ctx = new Context({
    width: fmt.columns,
    height: fmt.rows,
    bitsAllocated: fmt.bitsAllocated,
    bitsStored: fmt.bitsStored,
    samplesPerPixel: fmt.samplesPerPixel,
    pixelRepresentation: fmt.pixelRepresentation,
    planarConfiguration: 0,
    photometricInterpretation: fmt.photometricInterpretation ?? 'MONOCHROME2',
    encodedBuffer: data,
  });
  let out: Context;
  try {
    out = codec.decode(ctx);
  } catch (e) {
    throw LtError.invalid(`corrupt ${codec.name} stream: the decoder failed (${String((e as Error)?.message ?? e).slice(0, 200)})`);
  }
  const w = out.getWidth();
  const h = out.getHeight();
  if ((w !== undefined && w !== fmt.columns) || (h !== undefined && h !== fmt.rows)) {
    throw LtError.invalid(`${codec.name} frame is ${w} x ${h} pixels but Columns x Rows say ${fmt.columns} x ${fmt.rows}`);
  }
  const decoded = out.getDecodedBuffer();
  if (!decoded || decoded.byteLength !== count * bps) {
    throw LtError.invalid(`${codec.name} frame decoded to ${decoded?.byteLength ?? 0} bytes, expected ${count * bps} for ${fmt.rows} x ${fmt.columns} samples of ${bps} byte(s): Rows/Columns/Bits Allocated do not match the compressed image`);
  }
  return asSamples(decoded, fmt.bitsAllocated, count, false);
}
