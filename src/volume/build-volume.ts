/**
 * Assembles the HU volume of one series: checks the stack geometry, preallocates the Int16 volume and decodes the
 * instances one at a time straight into it (a few file reads ahead, never all files in memory).
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { LtError } from '../errors';
import { TransferSyntax } from '../dicom/dcmjs';
import { analyzeStack, DEFAULT_STACK_TOLERANCES, stackSlices, type StackSlice, type StackTolerances } from './geometry';
import { pixelDataProblem, nativeFrameBytes, isNativeSyntax, type InstanceHeader } from '../dicom/instance-header';
import { decodeFrame, initDecoders, isLosslessSyntax, isSupportedTransferSyntax, type PixelFormat } from './decode';
import { storeHu, type HuStats } from './hu';
import { parseEncapsulated, parsePart10Inflating, type Fragment } from '../dicom/part10';
import { DEFAULT_MAX_INFLATED_BYTES } from '../dicom/inflate';
import type { HuVolume, SourceSlice } from './types';

/** Limits and choices of volume assembly. */
export interface BuildOptions {
  /** Fewest slices that make a volume (default 2). */
  minSlices: number;
  /** Most slices accepted (default 1500): bounds memory. */
  maxSlices: number;
  /** Most bytes the HU volume may take (default 1 GiB). */
  maxBytes: number;
  /** HU written for pixel padding values (default -1024, air). */
  paddingHu: number;
  /** Files read ahead of the decoder (default 4). */
  readAhead: number;
  /** Most bytes a deflated data set may inflate to (default DEFAULT_MAX_INFLATED_BYTES). */
  maxInflatedBytes: number;
  tolerances: StackTolerances;
}

/** Defaults for BuildOptions. */
export const DEFAULT_BUILD_OPTIONS: BuildOptions = {
  minSlices: 2,
  maxSlices: 1500,
  maxBytes: 1024 * 1024 * 1024,
  paddingHu: -1024,
  readAhead: 4,
  maxInflatedBytes: DEFAULT_MAX_INFLATED_BYTES,
  tolerances: DEFAULT_STACK_TOLERANCES,
};

interface SliceRef extends StackSlice {
  inst: number;
  frame: number;
}

/** Splits the fragments of encapsulated pixel data into frames (PS3.5 A.4: Basic Offset Table, or one frame per fragment). */
export function framesOfFragments(buf: Buffer, offsets: number[], fragments: Fragment[], frames: number): Buffer[] {
  const cat = (fs: Fragment[]) => (fs.length === 1 ? buf.subarray(fs[0].offset, fs[0].offset + fs[0].length) : Buffer.concat(fs.map((f) => buf.subarray(f.offset, f.offset + f.length))));
  if (fragments.length === 0) throw LtError.invalid('corrupt pixel data: encapsulated pixel data has no fragments');
  if (frames === 1) return [cat(fragments)];
  if (offsets.length === frames) {
    const base = fragments[0].offset - 8;
    const out: Buffer[] = [];
    for (let k = 0; k < frames; k++) {
      const start = offsets[k];
      const end = k + 1 < frames ? offsets[k + 1] : Infinity;
      const fs = fragments.filter((f) => f.offset - 8 - base >= start && f.offset - 8 - base < end);
      if (!fs.length) throw LtError.invalid(`corrupt pixel data: Basic Offset Table entry ${k} (${start}) points at no fragment`);
      out.push(cat(fs));
    }
    return out;
  }
  if (fragments.length === frames) return fragments.map((f) => cat([f]));
  // No usable offset table: a new frame starts at a fragment opening with a JPEG SOI or a JPEG 2000 SOC marker.
  const groups: Fragment[][] = [];
  for (const f of fragments) {
    const b0 = buf[f.offset];
    const b1 = buf[f.offset + 1];
    const starts = b0 === 0xff && (b1 === 0xd8 || b1 === 0x4f);
    if (starts || groups.length === 0) groups.push([f]);
    else groups[groups.length - 1].push(f);
  }
  if (groups.length !== frames) {
    throw LtError.invalid(`corrupt pixel data: ${fragments.length} fragments without an offset table cannot be split into ${frames} frames (found ${groups.length} frame starts)`);
  }
  return groups.map(cat);
}

/** Reads the pixel data of one instance and yields its frames (native bytes or compressed frame data). */
async function readFrames(h: InstanceHeader, wanted: number[], maxInflatedBytes: number): Promise<Map<number, Buffer>> {
  const px = h.pixelData!;
  const out = new Map<number, Buffer>();
  if (h.transferSyntaxUid === TransferSyntax.DeflatedExplicitLittle) {
    const fh = await open(h.path, 'r');
    let file: Buffer;
    try {
      file = await fh.readFile();
    } finally {
      await fh.close();
    }
    const parsed = await parsePart10Inflating(file, { maxInflatedBytes });
    const p = parsed.pixelData;
    if (!p || p.encapsulated) throw LtError.invalid('deflated dataset has no native Pixel Data');
    const fb = nativeFrameBytes(h);
    const data = parsed.inflated ?? file;
    if (p.offset + fb * h.numberOfFrames > data.length) throw LtError.invalid(`truncated pixel data in the deflated dataset: ${data.length - p.offset} bytes for ${fb * h.numberOfFrames} expected`);
    for (const f of wanted) out.set(f, data.subarray(p.offset + f * fb, p.offset + (f + 1) * fb));
    return out;
  }
  const fh = await open(h.path, 'r');
  try {
    const size = (await fh.stat()).size;
    if (isNativeSyntax(h.transferSyntaxUid)) {
      const fb = nativeFrameBytes(h);
      for (const f of wanted) {
        const buf = Buffer.allocUnsafe(fb);
        const { bytesRead } = await fh.read(buf, 0, fb, px.offset + f * fb);
        if (bytesRead < fb) {
          throw LtError.invalid(`truncated pixel data: frame ${f + 1} needs ${fb} bytes (Rows ${h.rows} x Columns ${h.columns} x ${h.bitsAllocated / 8}) but the file holds ${bytesRead}`);
        }
        out.set(f, buf);
      }
      return out;
    }
    const len = size - px.offset;
    if (len <= 0) throw LtError.invalid('truncated pixel data: the file ends where Pixel Data begins');
    const buf = Buffer.allocUnsafe(len);
    const { bytesRead } = await fh.read(buf, 0, len, px.offset);
    const { offsets, fragments } = parseEncapsulated(buf.subarray(0, bytesRead), 0, true);
    const frames = framesOfFragments(buf, offsets, fragments, h.numberOfFrames);
    for (const f of wanted) out.set(f, frames[f]);
    return out;
  } finally {
    await fh.close();
  }
}

function where(h: InstanceHeader): string {
  return `instance ${h.sopInstanceUid || h.path}`;
}

/**
 * Decodes the instances of one series into a HU volume sorted along the slice normal.
 * Throws LtError.invalid naming the problem for unusable input (geometry, pixel data, limits).
 */
export async function buildVolume(headers: InstanceHeader[], opts: Partial<BuildOptions> = {}): Promise<HuVolume> {
  const o: BuildOptions = { ...DEFAULT_BUILD_OPTIONS, ...opts, tolerances: { ...DEFAULT_BUILD_OPTIONS.tolerances, ...opts.tolerances } };
  if (headers.length === 0) throw LtError.invalid('no instances to build a volume from');
  const series = new Set(headers.map((h) => h.seriesUid));
  if (series.size > 1) throw LtError.invalid(`instances of ${series.size} different series given; a volume is built from one series`);
  for (const h of headers) {
    if (h.error) throw LtError.invalid(`${where(h)}: ${h.error}`);
    const p = pixelDataProblem(h);
    if (p) throw LtError.invalid(`${where(h)}: ${p}`);
    if (!isSupportedTransferSyntax(h.transferSyntaxUid)) throw LtError.invalid(`${where(h)}: unsupported transfer syntax ${h.transferSyntaxUid}`);
    if (h.frames.length !== h.numberOfFrames) throw LtError.invalid(`${where(h)}: ${h.frames.length} frame descriptions for ${h.numberOfFrames} frames`);
  }
  const refs: SliceRef[] = [];
  headers.forEach((h, inst) => stackSlices(h).forEach((slice, frame) => refs.push({ inst, frame, ...slice })));
  if (refs.length < o.minSlices) throw LtError.invalid(`only ${refs.length} slice(s): a volume needs at least ${o.minSlices}`);
  if (refs.length > o.maxSlices) throw LtError.invalid(`${refs.length} slices exceed the limit of ${o.maxSlices} slices per volume`);
  const geo = analyzeStack(refs, o.tolerances);
  if (!geo.ok) throw LtError.invalid(geo.error);
  const slices = geo.order.length;
  if (slices < o.minSlices) throw LtError.invalid(`only ${slices} distinct slice(s): a volume needs at least ${o.minSlices}`);
  const { rows, columns } = geo;
  const frameVoxels = rows * columns;
  const bytes = slices * frameVoxels * 2;
  if (bytes > o.maxBytes) {
    throw LtError.invalid(`volume of ${slices} x ${rows} x ${columns} voxels needs ${bytes} bytes, above the limit of ${o.maxBytes} bytes`);
  }
  if (headers.some((h) => !isNativeSyntax(h.transferSyntaxUid))) await initDecoders();
  const hu = new Int16Array(slices * frameVoxels);

  // Destination slice of every (instance, frame); instances processed in the order of their first slice.
  const dest = new Map<number, Map<number, number>>();
  geo.order.forEach((refIdx, s) => {
    const r = refs[refIdx];
    let m = dest.get(r.inst);
    if (!m) dest.set(r.inst, (m = new Map()));
    m.set(r.frame, s);
  });
  const jobs = [...dest.keys()];
  const stats: HuStats = { clamped: 0, padded: 0 };
  const pending: Promise<Map<number, Buffer>>[] = [];
  const start = (k: number) => {
    const h = headers[jobs[k]];
    const p = readFrames(h, [...dest.get(jobs[k])!.keys()], o.maxInflatedBytes).catch((e: unknown) => {
      if (e instanceof LtError) throw LtError.invalid(`${where(h)}: ${e.message}`);
      throw LtError.invalid(`${where(h)}: cannot read ${h.path}: ${(e as Error).message}`);
    });
    p.catch(() => undefined); // handled when awaited; avoids an unhandled rejection while reading ahead
    pending[k] = p;
  };
  for (let k = 0; k < Math.min(o.readAhead, jobs.length); k++) start(k);
  for (let k = 0; k < jobs.length; k++) {
    const frames = await pending[k];
    delete pending[k];
    if (k + o.readAhead < jobs.length) start(k + o.readAhead);
    const h = headers[jobs[k]];
    const fmt: PixelFormat = h;
    for (const [frame, s] of dest.get(jobs[k])!) {
      let samples;
      try {
        samples = await decodeFrame(frames.get(frame)!, fmt);
      } catch (e) {
        if (e instanceof LtError) throw LtError.invalid(`${where(h)}${h.numberOfFrames > 1 ? ` frame ${frame + 1}` : ''}: ${e.message}`);
        throw e;
      }
      const f = h.frames[frame];
      const st = storeHu(
        samples,
        {
          bitsStored: h.bitsStored,
          highBit: h.highBit,
          pixelRepresentation: h.pixelRepresentation,
          slope: f.rescaleSlope,
          intercept: f.rescaleIntercept,
          paddingValue: h.pixelPaddingValue,
          paddingRangeLimit: h.pixelPaddingRangeLimit,
          paddingHu: o.paddingHu,
        },
        hu,
        s * frameVoxels,
      );
      stats.clamped += st.clamped;
      stats.padded += st.padded;
    }
  }

  const warnings = [...geo.warnings];
  if (stats.padded) warnings.push(`${stats.padded} pixel padding voxels set to ${o.paddingHu} HU`);
  if (stats.clamped) warnings.push(`${stats.clamped} voxels outside the int16 range clamped`);
  const lossy = [...new Set(headers.filter((h) => !isLosslessSyntax(h.transferSyntaxUid)).map((h) => h.transferSyntaxUid))];
  if (lossy.length) warnings.push(`lossy compressed source (${lossy.join(', ')}): HU values are approximate`);
  const tilt = headers.find((h) => h.gantryDetectorTilt)?.gantryDetectorTilt;
  if (tilt) warnings.push(`Gantry/Detector Tilt is ${tilt} degrees`);
  if (geo.obliquityDeg > 1) warnings.push(`oblique stack: slice normal is ${geo.obliquityDeg.toFixed(1)} degrees from the head-feet axis`);

  const sources: SourceSlice[] = geo.order.map((refIdx, s) => {
    const r = refs[refIdx];
    const h = headers[r.inst];
    const ipp = r.imagePositionPatient!;
    return {
      sopInstanceUid: h.sopInstanceUid,
      sopClassUid: h.sopClassUid,
      ...(h.numberOfFrames > 1 || h.frames.length > 1 ? { frameNumber: r.frameNumber } : {}),
      ...(h.instanceNumber !== undefined ? { instanceNumber: h.instanceNumber } : {}),
      position: geo.positions[s],
      imagePositionPatient: [ipp[0], ipp[1], ipp[2]],
    };
  });
  const first = headers[refs[geo.order[0]].inst];
  const sliceThickness = first.frames[refs[geo.order[0]].frame].sliceThickness;
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      rows,
      columns,
      slices,
      pixelSpacing: geo.pixelSpacing,
      imageOrientationPatient: geo.imageOrientationPatient,
      positions: sources.map((s) => s.imagePositionPatient),
    }),
  );
  hash.update(new Uint8Array(hu.buffer, hu.byteOffset, hu.byteLength));
  return {
    studyUid: first.studyUid,
    seriesUid: first.seriesUid,
    ...(first.frameOfReferenceUid ? { frameOfReferenceUid: first.frameOfReferenceUid } : {}),
    rows,
    columns,
    slices,
    pixelSpacing: geo.pixelSpacing,
    sliceSpacing: geo.meanSpacing,
    ...(sliceThickness !== undefined ? { sliceThickness } : {}),
    imageOrientationPatient: geo.imageOrientationPatient,
    hu,
    sources,
    contentHash: hash.digest('hex'),
    warnings,
  };
}
