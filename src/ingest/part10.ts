import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { DicomMessage, DicomMetaDictionary, TransferSyntax, type NaturalDataset } from '../dicom/dcmjs';
import { DEFAULT_MAX_INFLATED_BYTES, inflateDataset } from '../dicom/inflate';
import { isValidUid } from '../dicom/uid';
import { DicomReason, LtError } from '../errors';
import { requestedPriorityRank, type PriorityRank } from '../triage-priority';

/** The identifying attributes of a received instance, read from its header. */
export interface InstanceInfo {
  sopClassUid: string;
  sopInstanceUid: string;
  studyUid: string;
  seriesUid: string;
  transferSyntaxUid: string;
  modality?: string;
  /** The rank the order asks for (Requested Procedure Priority), when the header states one. */
  requestedPriority?: PriorityRank;
  /** Byte offset of the top-level Pixel Data element, if any (header parsing stops there). */
  pixelDataOffset?: number;
}

const cannotUnderstand = (msg: string) => LtError.invalid(msg, DicomReason.CannotUnderstand);

/** Random access to bytes: a file through a window cache, or a buffer. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Buffer;
}

/** A buffer as a ByteSource (for tests and fuzzing). */
export function bufferBytes(buf: Buffer): ByteSource {
  return {
    size: buf.length,
    read(offset, length) {
      if (offset + length > buf.length) throw new RangeError('past end');
      return buf.subarray(offset, offset + length);
    },
  };
}

/** A file through a small window cache, so walking a large instance reads only its element headers. */
class FileBytes implements ByteSource {
  private window = Buffer.alloc(0);
  private windowStart = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  read(offset: number, length: number): Buffer {
    if (offset + length > this.size) throw new RangeError('past end');
    if (offset >= this.windowStart && offset + length <= this.windowStart + this.window.length)
      return this.window.subarray(offset - this.windowStart, offset - this.windowStart + length);
    const size = Math.min(Math.max(length, 64 * 1024), this.size - offset);
    const buf = Buffer.alloc(size);
    readSync(this.fd, buf, 0, size, offset);
    this.window = buf;
    this.windowStart = offset;
    return buf.subarray(0, length);
  }
}

// Explicit-VR VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED = 0xffffffff;
const MAX_DEPTH = 32;
/** Most data elements (nested ones included) a received instance may hold: a CT image has a few hundred to a few thousand. */
export const MAX_ELEMENTS = 100_000;

interface Syntax {
  explicit: boolean;
  little: boolean;
}

function tagName(group: number, element: number): string {
  return `(${group.toString(16).padStart(4, '0').toUpperCase()},${element.toString(16).padStart(4, '0').toUpperCase()})`;
}

/**
 * Walks a Part 10 file's element structure without reading values: proves every element's declared length fits
 * the file (so truncation is found and named), and finds the transfer syntax and the Pixel Data offset.
 * Deflated data sets are inflated by {@link readInstanceInfo} and walked with {@link walkInflated}.
 */
export function walkPart10(bytes: ByteSource): { transferSyntaxUid: string; metaEnd: number; pixelDataOffset?: number } {
  if (bytes.size < 132 || bytes.read(128, 4).toString('latin1') !== 'DICM')
    throw cannotUnderstand('not a DICOM Part 10 file (no "DICM" prefix at byte 128)');
  // File meta information: always explicit VR little endian (PS3.10 7.1).
  let offset = 132;
  let transferSyntaxUid: string | undefined;
  while (offset + 8 <= bytes.size) {
    const head = bytes.read(offset, 8);
    const group = head.readUInt16LE(0);
    if (group !== 0x0002) break;
    const element = head.readUInt16LE(2);
    const vr = head.toString('latin1', 4, 6);
    let len: number;
    let valueStart: number;
    if (LONG_VRS.has(vr)) {
      if (offset + 12 > bytes.size) throw cannotUnderstand('file meta information is truncated');
      len = bytes.read(offset + 8, 4).readUInt32LE(0);
      valueStart = offset + 12;
    } else {
      len = head.readUInt16LE(6);
      valueStart = offset + 8;
    }
    if (len === UNDEFINED || valueStart + len > bytes.size) throw cannotUnderstand(`file meta element ${tagName(group, element)} is truncated`);
    if (element === 0x0010) transferSyntaxUid = bytes.read(valueStart, len).toString('latin1').replace(/[\0 ]+$/, '');
    offset = valueStart + len;
  }
  if (!transferSyntaxUid) throw cannotUnderstand('file meta information has no Transfer Syntax UID (0002,0010)');
  const metaEnd = offset;
  if (transferSyntaxUid === TransferSyntax.DeflatedExplicitLittle) return { transferSyntaxUid, metaEnd };
  const syntax: Syntax = {
    explicit: transferSyntaxUid !== TransferSyntax.ImplicitLittle,
    little: transferSyntaxUid !== TransferSyntax.ExplicitBig,
  };
  const state = { elements: 0 };
  let pixelDataOffset: number | undefined;
  const end = walkDataset(bytes, offset, bytes.size, syntax, 0, state, (g, e, at) => {
    if (g === 0x7fe0 && e === 0x0010) pixelDataOffset = at;
  });
  if (end !== bytes.size) throw cannotUnderstand(`data set ends at byte ${end} but the file has ${bytes.size}`);
  return { transferSyntaxUid, metaEnd, pixelDataOffset };
}

/**
 * Walks an inflated Deflated Explicit VR Little Endian data set with the same depth and element-count guards as
 * {@link walkPart10}; returns the Pixel Data offset within it, if any.
 */
export function walkInflated(dataset: ByteSource): { pixelDataOffset?: number } {
  let pixelDataOffset: number | undefined;
  const end = walkDataset(dataset, 0, dataset.size, { explicit: true, little: true }, 0, { elements: 0 }, (g, e, at) => {
    if (g === 0x7fe0 && e === 0x0010) pixelDataOffset = at;
  });
  if (end !== dataset.size) throw cannotUnderstand(`inflated data set ends at byte ${end} but holds ${dataset.size}`);
  return { pixelDataOffset };
}

/**
 * The preamble and file meta information of a file, re-labelled Explicit VR Little Endian, so that an inflated data
 * set appended to it reads as an ordinary Part 10 file (dcmjs would otherwise inflate again, without a cap).
 */
function explicitLittleMeta(bytes: ByteSource, metaEnd: number): Buffer {
  const kept: Buffer[] = [];
  let offset = 132;
  while (offset < metaEnd) {
    const head = bytes.read(offset, 8);
    const element = head.readUInt16LE(2);
    const vr = head.toString('latin1', 4, 6);
    const long = LONG_VRS.has(vr);
    const len = long ? bytes.read(offset + 8, 4).readUInt32LE(0) : head.readUInt16LE(6);
    const next = offset + (long ? 12 : 8) + len;
    if (element !== 0x0000 && element !== 0x0010) kept.push(Buffer.from(bytes.read(offset, next - offset)));
    offset = next;
  }
  const uid = Buffer.from(`${TransferSyntax.ExplicitLittle}\0`, 'latin1');
  const ts = Buffer.alloc(8);
  ts.write('\x02\x00\x10\x00UI', 0, 'latin1');
  ts.writeUInt16LE(uid.length, 6);
  kept.push(ts, uid);
  const body = Buffer.concat(kept);
  const groupLength = Buffer.alloc(12);
  groupLength.write('\x02\x00\x00\x00UL', 0, 'latin1');
  groupLength.writeUInt16LE(4, 6);
  groupLength.writeUInt32LE(body.length, 8);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), groupLength, body]);
}

/** Walks elements from offset until limit (or an item delimiter when inItem); returns where it stopped. */
function walkDataset(
  bytes: ByteSource,
  start: number,
  limit: number,
  syntax: Syntax,
  depth: number,
  state: { elements: number },
  onTopLevel?: (group: number, element: number, offset: number) => void,
  inUndefinedItem = false,
): number {
  if (depth > MAX_DEPTH) throw cannotUnderstand('sequences nested too deeply');
  let offset = start;
  while (offset < limit) {
    if (++state.elements > MAX_ELEMENTS) throw cannotUnderstand('too many data elements');
    if (offset + 8 > limit) throw cannotUnderstand(`truncated data element header at byte ${offset}`);
    const head = bytes.read(offset, 8);
    const group = syntax.little ? head.readUInt16LE(0) : head.readUInt16BE(0);
    const element = syntax.little ? head.readUInt16LE(2) : head.readUInt16BE(2);
    // Delimiters are always implicit little/big endian with a 4-byte length (PS3.5 7.5).
    if (group === 0xfffe) {
      if (element === 0xe00d && inUndefinedItem) return offset + 8;
      throw cannotUnderstand(`unexpected delimiter ${tagName(group, element)} at byte ${offset}`);
    }
    let len: number;
    let valueStart: number;
    let vr = '';
    if (syntax.explicit) {
      vr = head.toString('latin1', 4, 6);
      if (!/^[A-Z]{2}$/.test(vr)) throw cannotUnderstand(`invalid VR at element ${tagName(group, element)}`);
      if (LONG_VRS.has(vr)) {
        if (offset + 12 > limit) throw cannotUnderstand(`truncated data element ${tagName(group, element)}`);
        const l = bytes.read(offset + 8, 4);
        len = syntax.little ? l.readUInt32LE(0) : l.readUInt32BE(0);
        valueStart = offset + 12;
      } else {
        len = syntax.little ? head.readUInt16LE(6) : head.readUInt16BE(6);
        valueStart = offset + 8;
      }
    } else {
      len = head.readUInt32LE(4);
      valueStart = offset + 8;
    }
    if (depth === 0) onTopLevel?.(group, element, offset);
    if (len === UNDEFINED) {
      // Sequences, encapsulated pixel data and UN of undefined length: a run of items up to the sequence delimiter.
      offset = walkItems(bytes, valueStart, limit, syntax, depth, state, group, element);
    } else {
      if (valueStart + len > limit)
        throw cannotUnderstand(`element ${tagName(group, element)} declares ${len} bytes but only ${Math.max(0, limit - valueStart)} remain (truncated)`);
      // Implicit VR sequences of defined length are skipped by length: safe, as the length was checked.
      if (vr === 'SQ') walkItems(bytes, valueStart, valueStart + len, syntax, depth, state, group, element, true);
      offset = valueStart + len;
    }
  }
  return offset;
}

function walkItems(
  bytes: ByteSource,
  start: number,
  limit: number,
  syntax: Syntax,
  depth: number,
  state: { elements: number },
  group: number,
  element: number,
  definedLength = false,
): number {
  let offset = start;
  const isPixelData = group === 0x7fe0 && element === 0x0010;
  while (offset < limit) {
    if (offset + 8 > limit) throw cannotUnderstand(`truncated item in ${tagName(group, element)}`);
    const head = bytes.read(offset, 8);
    const g = syntax.little ? head.readUInt16LE(0) : head.readUInt16BE(0);
    const e = syntax.little ? head.readUInt16LE(2) : head.readUInt16BE(2);
    const len = syntax.little ? head.readUInt32LE(4) : head.readUInt32BE(4);
    if (g !== 0xfffe) throw cannotUnderstand(`expected an item in ${tagName(group, element)} at byte ${offset}`);
    if (e === 0xe0dd) {
      if (definedLength) throw cannotUnderstand(`sequence delimiter inside defined-length ${tagName(group, element)}`);
      return offset + 8;
    }
    if (e !== 0xe000) throw cannotUnderstand(`unexpected ${tagName(g, e)} in ${tagName(group, element)}`);
    if (len === UNDEFINED) {
      if (isPixelData) throw cannotUnderstand('encapsulated pixel data fragment of undefined length');
      offset = walkDataset(bytes, offset + 8, limit, syntax, depth + 1, state, undefined, true);
    } else {
      if (offset + 8 + len > limit)
        throw cannotUnderstand(`${isPixelData ? 'pixel data fragment' : 'item'} in ${tagName(group, element)} declares ${len} bytes past the end (truncated)`);
      if (!isPixelData) walkDataset(bytes, offset + 8, offset + 8 + len, syntax, depth + 1, state);
      offset += 8 + len;
    }
  }
  if (definedLength) return offset;
  throw cannotUnderstand(`${tagName(group, element)} has no sequence delimiter (truncated)`);
}

/**
 * The highest rank Requested Procedure Priority (0040,1003) asks for, at the top level or in a Request Attributes
 * Sequence (0040,0275) item, where an image carries its order's attributes.
 */
function requestedPriority(ds: NaturalDataset): PriorityRank | undefined {
  const requests = ds.RequestAttributesSequence;
  const items = [ds, ...(Array.isArray(requests) ? (requests as NaturalDataset[]) : requests ? [requests as NaturalDataset] : [])];
  let best: PriorityRank | undefined;
  for (const item of items) {
    const rank = requestedPriorityRank(str(item, 'RequestedProcedurePriority'));
    if (rank !== undefined && (best === undefined || rank > best)) best = rank;
  }
  return best;
}

function str(ds: NaturalDataset, key: string): string | undefined {
  const v = ds[key];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' ? s.replace(/[\0 ]+$/, '') : undefined;
}

/** Limits of {@link readInstanceInfo}. */
export interface InstanceInfoOptions {
  /** Most bytes a deflated data set may inflate to (default DEFAULT_MAX_INFLATED_BYTES); more is 0xA700. */
  maxInflatedBytes?: number;
}

/**
 * Checks a received Part 10 file on disk and reads the attributes that identify it. Throws LtError with the DICOM
 * failure reason: 0xC000 when it is not understood (not DICOM, truncated, corrupt), 0xA900 when required
 * identifying attributes are missing or malformed, 0xA700 when a deflated data set inflates past the limit.
 * A deflated data set is inflated off the event loop with a cap, then walked with the same guards as any other.
 */
export async function readInstanceInfo(file: string, opts: InstanceInfoOptions = {}): Promise<InstanceInfo> {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const bytes = new FileBytes(fd, size);
    let walked: ReturnType<typeof walkPart10>;
    try {
      walked = walkPart10(bytes);
    } catch (e) {
      if (e instanceof LtError) throw e;
      throw cannotUnderstand('DICOM structure could not be read');
    }
    // Parse only the header (everything before Pixel Data). A deflated data set is inflated (capped, off the event
    // loop) and walked first; dcmjs then reads the inflated header as Explicit VR Little Endian.
    let headerBytes: Buffer;
    if (walked.transferSyntaxUid === TransferSyntax.DeflatedExplicitLittle) {
      const inflated = await inflateDataset((await readFile(file)).subarray(walked.metaEnd), opts.maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES);
      let pixelDataOffset: number | undefined;
      try {
        ({ pixelDataOffset } = walkInflated(bufferBytes(inflated)));
      } catch (e) {
        if (e instanceof LtError) throw e;
        throw cannotUnderstand('inflated DICOM structure could not be read');
      }
      headerBytes = Buffer.concat([explicitLittleMeta(bytes, walked.metaEnd), inflated.subarray(0, pixelDataOffset ?? inflated.length)]);
    } else {
      headerBytes = bytes.read(0, walked.pixelDataOffset ?? size);
    }
    let meta: NaturalDataset;
    let ds: NaturalDataset;
    try {
      const ab = headerBytes.buffer.slice(headerBytes.byteOffset, headerBytes.byteOffset + headerBytes.byteLength) as ArrayBuffer;
      const dict = DicomMessage.readFile(ab, {});
      meta = DicomMetaDictionary.naturalizeDataset(dict.meta);
      ds = DicomMetaDictionary.naturalizeDataset(dict.dict);
    } catch (e) {
      // dcmjs throws strings too (its inflate, for one): never let a non-Error escape as a TypeError here.
      throw cannotUnderstand(`DICOM header could not be parsed: ${String((e as Error | undefined)?.message ?? e).slice(0, 200)}`);
    }
    const info = {
      sopClassUid: str(ds, 'SOPClassUID'),
      sopInstanceUid: str(ds, 'SOPInstanceUID'),
      studyUid: str(ds, 'StudyInstanceUID'),
      seriesUid: str(ds, 'SeriesInstanceUID'),
    };
    for (const [name, value] of Object.entries(info)) {
      if (value === undefined || value === '') throw LtError.invalid(`${name} is missing`, DicomReason.DataSetDoesNotMatchSopClass);
      if (!isValidUid(value)) throw LtError.invalid(`${name} is not a valid UID (PS3.5 9.1)`, DicomReason.DataSetDoesNotMatchSopClass);
    }
    const metaSop = str(meta, 'MediaStorageSOPInstanceUID');
    if (metaSop && metaSop !== info.sopInstanceUid)
      throw LtError.invalid('MediaStorageSOPInstanceUID differs from SOPInstanceUID', DicomReason.DataSetDoesNotMatchSopClass);
    return {
      sopClassUid: info.sopClassUid!,
      sopInstanceUid: info.sopInstanceUid!,
      studyUid: info.studyUid!,
      seriesUid: info.seriesUid!,
      transferSyntaxUid: walked.transferSyntaxUid,
      modality: str(ds, 'Modality'),
      requestedPriority: requestedPriority(ds),
      pixelDataOffset: walked.pixelDataOffset,
    };
  } finally {
    closeSync(fd);
  }
}
