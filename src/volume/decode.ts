/**
 * Frame decoding behind one interface, so the codec library can be swapped. Native (uncompressed) frames are read
 * directly; compressed frames go to dcmjs-codecs (WebAssembly builds of libjpeg-turbo/IJG for JPEG baseline, extended
 * and lossless, CharLS for JPEG-LS, OpenJPEG for JPEG 2000, and an RLE decoder), shipped inside the npm package.
 *
 * Compressed frames are decoded on a thread of their own (one, started on first use), never on the event loop: a large
 * RLE or JPEG 2000 frame takes seconds of CPU, which froze the gateway's listeners (issue 17). The frame's own header is
 * checked first, on the caller's side, so a frame claiming more than Rows x Columns never reaches a decoder, and Rows
 * and Columns are bounded by MAX_DIMENSION (dicom/instance-header.ts): what the thread allocates is bounded too.
 *
 * A decoded frame is returned as the stored pixel words (PS3.5 8.1.1) in an unsigned container of Bits Allocated width;
 * masking to Bits Stored, sign extension and the modality LUT are done by the caller (hu.ts).
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
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

const NATIVE: ReadonlySet<string> = new Set([TransferSyntax.ImplicitLittle, TransferSyntax.ExplicitLittle, TransferSyntax.DeflatedExplicitLittle, TransferSyntax.ExplicitBig]);

/** Each compressed syntax: its name in messages, and the dcmjs-codecs decoder the thread runs (DECODE_THREAD). */
const CODECS: Record<string, { name: string; decoder: 'rle' | 'jpeg' | 'jpegLs' | 'jpeg2000' }> = {
  [TransferSyntax.Rle]: { name: 'RLE Lossless', decoder: 'rle' },
  [TransferSyntax.JpegBaseline]: { name: 'JPEG Baseline', decoder: 'jpeg' },
  [TransferSyntax.JpegExtended]: { name: 'JPEG Extended', decoder: 'jpeg' },
  [TransferSyntax.JpegLossless]: { name: 'JPEG Lossless (Process 14)', decoder: 'jpeg' },
  [TransferSyntax.JpegLosslessSV1]: { name: 'JPEG Lossless SV1', decoder: 'jpeg' },
  [TransferSyntax.JpegLsLossless]: { name: 'JPEG-LS Lossless', decoder: 'jpegLs' },
  [TransferSyntax.JpegLsNearLossless]: { name: 'JPEG-LS Near-Lossless', decoder: 'jpegLs' },
  [TransferSyntax.Jpeg2000Lossless]: { name: 'JPEG 2000 Lossless', decoder: 'jpeg2000' },
  [TransferSyntax.Jpeg2000]: { name: 'JPEG 2000', decoder: 'jpeg2000' },
};

/**
 * The decode thread (plain JavaScript, so it runs the same from the sources and from dist/): loads the WebAssembly
 * codecs, then decodes one frame per message and sends the decoded bytes back (a copy out of the WebAssembly heap,
 * transferred, not copied again), or the decoder's error.
 */
const DECODE_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { Context, NativeCodecs } = require(workerData.codecs);
const ready = NativeCodecs.initializeAsync({ webAssemblyModulePathOrUrl: workerData.wasm, logCodecsInfo: false, logCodecsTrace: false });
const decoders = {
  rle: (c) => NativeCodecs.decodeRle(c, {}),
  jpeg: (c) => NativeCodecs.decodeJpeg(c, { convertColorspaceToRgb: false }),
  jpegLs: (c) => NativeCodecs.decodeJpegLs(c, {}),
  jpeg2000: (c) => NativeCodecs.decodeJpeg2000(c, {}),
};
ready.then(() => parentPort.postMessage({ ready: true }), (e) => parentPort.postMessage({ loadError: String((e && e.message) || e) }));
parentPort.on('message', async ({ id, decoder, context }) => {
  try {
    await ready;
    const out = decoders[decoder](new Context(context));
    const decoded = out.getDecodedBuffer();
    const copy = decoded ? new Uint8Array(decoded) : undefined;
    parentPort.postMessage({ id, width: out.getWidth(), height: out.getHeight(), decoded: copy }, copy ? [copy.buffer] : []);
  } catch (e) {
    parentPort.postMessage({ id, error: String((e && e.message) || e).slice(0, 200) });
  }
});
`;

interface Decoded {
  width?: number;
  height?: number;
  decoded?: Uint8Array;
  error?: string;
}

/** The one decode thread and its calls in flight; a thread that dies fails them and is started afresh on the next call. */
class DecodeThread {
  private worker?: Worker;
  private ready?: Promise<void>;
  private readonly calls = new Map<number, (r: Decoded) => void>();
  private next = 0;

  start(): Promise<void> {
    if (this.ready) return this.ready;
    const codecs = require.resolve('dcmjs-codecs');
    const worker = new Worker(DECODE_THREAD, { eval: true, workerData: { codecs, wasm: path.join(path.dirname(codecs), 'dcmjs-native-codecs.wasm') } });
    worker.unref(); // an idle decoder never keeps the process alive
    this.worker = worker;
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: Decoded & { id?: number; ready?: boolean; loadError?: string }) => {
        if (m.ready) resolve();
        else if (m.loadError) reject(LtError.internal(`cannot load the image codecs: ${m.loadError}`));
        else if (m.id !== undefined) {
          this.calls.get(m.id)?.(m);
          this.calls.delete(m.id);
        }
      });
      const died = (why: string) => {
        if (this.worker !== worker) return;
        this.worker = undefined;
        this.ready = undefined;
        reject(LtError.internal(`cannot load the image codecs: ${why}`));
        for (const done of this.calls.values()) done({ error: `the decode thread stopped (${why})` });
        this.calls.clear();
      };
      worker.on('error', (e) => died(e.message));
      worker.on('exit', (code) => died(`exit code ${code}`));
    });
    this.ready = ready;
    ready.catch(() => undefined);
    return ready;
  }

  /** Decodes one frame; `encoded` is copied (only its own bytes, a frame may be a view of a whole multi-frame file) and the copy moved to the thread. */
  async decode(decoder: string, encoded: Uint8Array, context: Record<string, unknown>): Promise<Decoded> {
    await this.start();
    const id = this.next++;
    const own = new Uint8Array(encoded);
    return new Promise<Decoded>((resolve) => {
      this.calls.set(id, resolve);
      this.worker!.ref(); // a frame being decoded keeps the process up until it is answered
      this.worker!.postMessage({ id, decoder, context: { ...context, encodedBuffer: own } }, [own.buffer]);
    }).finally(() => {
      if (this.calls.size === 0) this.worker?.unref();
    });
  }
}

const thread = new DecodeThread();

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

/** Starts the decode thread and loads the WebAssembly codecs in it (once; local file, nothing is downloaded). */
export function initDecoders(): Promise<void> {
  return thread.start();
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
 * concatenated fragments of the frame (encapsulated syntaxes), decoded on the decode thread. Rejects with
 * LtError.invalid naming the problem for a broken stream or a frame that does not match Rows x Columns; a compressed
 * frame's own header (SOF, SIZ, RLE header) is checked against them before the decoder runs.
 */
export async function decodeFrame(data: Uint8Array, fmt: PixelFormat): Promise<StoredSamples> {
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
  if (data.byteLength === 0) throw LtError.invalid(`corrupt ${codec.name} stream: the frame has no compressed data`);
  // The decoders allocate the size the frame claims: compare it with Rows/Columns before they run.
  const problem = frameHeaderProblem(data, fmt, codec.name);
  if (problem) throw LtError.invalid(problem);
  const out = await thread.decode(codec.decoder, data, {
    width: fmt.columns,
    height: fmt.rows,
    bitsAllocated: fmt.bitsAllocated,
    bitsStored: fmt.bitsStored,
    samplesPerPixel: fmt.samplesPerPixel,
    pixelRepresentation: fmt.pixelRepresentation,
    planarConfiguration: 0,
    photometricInterpretation: fmt.photometricInterpretation ?? 'MONOCHROME2',
  });
  if (out.error !== undefined) throw LtError.invalid(`corrupt ${codec.name} stream: the decoder failed (${out.error})`);
  const { width: w, height: h, decoded } = out;
  if ((w !== undefined && w !== fmt.columns) || (h !== undefined && h !== fmt.rows)) {
    throw LtError.invalid(`${codec.name} frame is ${w} x ${h} pixels but Columns x Rows say ${fmt.columns} x ${fmt.rows}`);
  }
  if (!decoded || decoded.byteLength !== count * bps) {
    throw LtError.invalid(`${codec.name} frame decoded to ${decoded?.byteLength ?? 0} bytes, expected ${count * bps} for ${fmt.rows} x ${fmt.columns} samples of ${bps} byte(s): Rows/Columns/Bits Allocated do not match the compressed image`);
  }
  return asSamples(decoded, fmt.bitsAllocated, count, false);
}
