/**
 * A small, strict reader for DICOM Part 10 files (PS3.10 7.1) that parses the header without touching the pixel data,
 * records where the pixel data lies, and names the element when a file is truncated or malformed.
 *
 * It exists beside dcmjs because the volume stage needs things dcmjs does not give cheaply: header-only parsing of
 * a partial read, the byte offset of Pixel Data so frames can be read straight from disk, and precise errors.
 */
import { LtError } from '../errors';
import { TransferSyntax } from '../dicom/dcmjs';
import { DEFAULT_MAX_INFLATED_BYTES, inflateDataset } from '../dicom/inflate';

/** A tag as (group << 16 | element), e.g. 0x00200032 for Image Position (Patient). */
export type Tag = number;

/** Formats a tag the way DICOM texts write it: (0020,0032). */
export function tagName(tag: Tag): string {
  const h = (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
  return `(${h.slice(0, 4)},${h.slice(4)})`;
}

/** Thrown internally when a partial read ends inside an element the header needs; the caller reads more. */
export class NeedMoreData extends Error {
  constructor(readonly needed: number) {
    super(`need ${needed} bytes`);
  }
}

/**
 * Thrown by {@link parsePart10} for a deflated file given without its inflated data set: the caller inflates
 * (capped, asynchronously) from datasetStart and parses again; {@link parsePart10Inflating} does both.
 */
export class NeedsInflating extends Error {
  constructor(readonly datasetStart: number) {
    super('deflated data set: inflate it first');
  }
}

/** Most data elements (nested ones included) one header may hold, as at ingest: far more than any CT image has. */
export const MAX_ELEMENTS = 100_000;
/** Deepest sequence nesting accepted. */
const MAX_DEPTH = 16;

/** One parsed element: where its value lies in the buffer, or its items for a sequence. */
export interface DicomElement {
  tag: Tag;
  vr: string;
  /** Offset of the value in the dataset buffer. */
  offset: number;
  /** Value length in bytes; -1 for undefined length (encapsulated pixel data). */
  length: number;
  items?: DicomDataset[];
}

/** Where the pixel data of an instance lies. */
export interface PixelDataLocation {
  /** Byte offset of the value in the (inflated, for deflate) dataset stream, counted from the file start for non-deflated files. */
  offset: number;
  /** Value length, or -1 when encapsulated (undefined length, PS3.5 A.4). */
  length: number;
  vr: string;
  encapsulated: boolean;
}

// VRs with a 4-byte length in explicit VR (PS3.5 7.1.2).
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UR', 'UT', 'UN', 'SV', 'UV']);

// Sequences the volume stage reads, so they can be recognised in implicit VR with a defined length.
const KNOWN_SQ = new Set<Tag>([
  0x52009229, // SharedFunctionalGroupsSequence
  0x52009230, // PerFrameFunctionalGroupsSequence
  0x00209113, // PlanePositionSequence
  0x00209116, // PlaneOrientationSequence
  0x00289110, // PixelMeasuresSequence
  0x00289145, // PixelValueTransformationSequence
  0x00189329, // CTImageFrameTypeSequence
  0x00189314, // CTReconstructionSequence
  0x00209111, // FrameContentSequence
]);

const ITEM = 0xfffee000;
const ITEM_DELIM = 0xfffee00d;
const SEQ_DELIM = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;
const FLOAT_PIXEL_DATA = 0x7fe00008;
const DOUBLE_PIXEL_DATA = 0x7fe00009;
const UNDEFINED = 0xffffffff;

/** A parsed dataset (or sequence item) over a buffer; values are decoded on demand. */
export class DicomDataset {
  readonly elements = new Map<Tag, DicomElement>();
  constructor(
    readonly buf: Buffer,
    readonly littleEndian: boolean,
  ) {}

  has(tag: Tag): boolean {
    return this.elements.has(tag);
  }

  /** Raw value bytes of an element. */
  bytes(tag: Tag): Buffer | undefined {
    const e = this.elements.get(tag);
    if (!e || e.length < 0) return undefined;
    return this.buf.subarray(e.offset, e.offset + e.length);
  }

  /** A string value, trailing padding (space/NUL) removed; undefined when absent or empty. */
  string(tag: Tag): string | undefined {
    const b = this.bytes(tag);
    if (!b) return undefined;
    const s = b.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
    return s.length ? s : undefined;
  }

  /** A multi-valued string (backslash-separated), each value trimmed. */
  strings(tag: Tag): string[] {
    const b = this.bytes(tag);
    if (!b || !b.length) return [];
    return b
      .toString('latin1')
      .replace(/[\0]+$/, '')
      .split('\\')
      .map((s) => s.trim());
  }

  /** Numbers of a DS/IS value, or of a binary US/SS/UL/SL/FL/FD value. NaN where a value does not parse. */
  numbers(tag: Tag): number[] | undefined {
    const e = this.elements.get(tag);
    if (!e || e.length <= 0) return undefined;
    const b = this.buf;
    const le = this.littleEndian;
    const n = (size: number) => Math.floor(e.length / size);
    const read = (size: number, f: (o: number) => number) => Array.from({ length: n(size) }, (_, i) => f(e.offset + i * size));
    switch (e.vr) {
      case 'US':
        return read(2, (o) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o)));
      case 'SS':
        return read(2, (o) => (le ? b.readInt16LE(o) : b.readInt16BE(o)));
      case 'UL':
        return read(4, (o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o)));
      case 'SL':
        return read(4, (o) => (le ? b.readInt32LE(o) : b.readInt32BE(o)));
      case 'FL':
        return read(4, (o) => (le ? b.readFloatLE(o) : b.readFloatBE(o)));
      case 'FD':
        return read(8, (o) => (le ? b.readDoubleLE(o) : b.readDoubleBE(o)));
      default: {
        const parts = this.strings(tag).filter((s) => s.length > 0);
        return parts.length ? parts.map((s) => (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) ? Number(s) : NaN)) : undefined;
      }
    }
  }

  /** First number of a value, if present and finite. */
  number(tag: Tag): number | undefined {
    const v = this.numbers(tag)?.[0];
    return v !== undefined && Number.isFinite(v) ? v : undefined;
  }

  /** A 16-bit binary value read as unsigned (implicit VR US/SS ambiguity is resolved by the caller). */
  uint16(tag: Tag): number | undefined {
    const e = this.elements.get(tag);
    if (!e || e.length < 2) return undefined;
    if (e.vr !== 'US' && e.vr !== 'SS' && e.vr !== 'UN' && e.vr !== 'OW' && e.vr !== 'xs') return this.number(tag);
    return this.littleEndian ? this.buf.readUInt16LE(e.offset) : this.buf.readUInt16BE(e.offset);
  }

  /** Items of a sequence (empty when absent). */
  items(tag: Tag): DicomDataset[] {
    return this.elements.get(tag)?.items ?? [];
  }
}

/** The parsed header of one Part 10 file. */
export interface ParsedFile {
  meta: DicomDataset;
  dataset: DicomDataset;
  transferSyntaxUid: string;
  /** Location of Pixel Data (7FE0,0010), if present. */
  pixelData?: PixelDataLocation;
  /** True when the dataset was deflated: offsets refer to the inflated buffer. */
  deflated: boolean;
}

interface Ctx {
  buf: Buffer;
  little: boolean;
  explicit: boolean;
  /** True when buf is a prefix of the file, so running off its end asks for more instead of failing. */
  partial: boolean;
  pixel?: PixelDataLocation;
  /** Elements parsed so far, nested ones included (shared by the contexts of one file). */
  count: { elements: number };
}

function truncated(ctx: Ctx, what: string, needEnd: number): never {
  if (ctx.partial) throw new NeedMoreData(needEnd);
  throw LtError.invalid(`truncated file: ${what} runs to byte ${needEnd} but the data ends at byte ${ctx.buf.length}`);
}

function readTag(ctx: Ctx, pos: number): Tag {
  const b = ctx.buf;
  if (pos + 4 > b.length) truncated(ctx, 'element tag', pos + 4);
  const g = ctx.little ? b.readUInt16LE(pos) : b.readUInt16BE(pos);
  const e = ctx.little ? b.readUInt16LE(pos + 2) : b.readUInt16BE(pos + 2);
  return ((g << 16) | e) >>> 0;
}

function readU32(ctx: Ctx, pos: number): number {
  if (pos + 4 > ctx.buf.length) truncated(ctx, 'element length', pos + 4);
  return ctx.little ? ctx.buf.readUInt32LE(pos) : ctx.buf.readUInt32BE(pos);
}

/**
 * Parses elements from pos until end (or an item delimiter when end is undefined). Stops at Pixel Data, recording
 * its location. Returns the position after the last element consumed.
 */
function parseElements(ctx: Ctx, ds: DicomDataset, pos: number, end: number | undefined, depth: number): number {
  if (depth > MAX_DEPTH) throw LtError.invalid(`malformed dataset: sequences nested deeper than ${MAX_DEPTH} levels`);
  const b = ctx.buf;
  for (;;) {
    if (end !== undefined && pos >= end) return pos;
    if (++ctx.count.elements > MAX_ELEMENTS) throw LtError.invalid(`malformed dataset: more than ${MAX_ELEMENTS} data elements`);
    if (end === undefined && pos >= b.length) {
      if (depth === 0) return pos;
      truncated(ctx, 'sequence item without delimiter', pos + 8);
    }
    const tag = readTag(ctx, pos);
    if (tag === ITEM_DELIM) {
      return pos + 8;
    }
    if (tag === SEQ_DELIM || tag === ITEM) {
      if (depth === 0) throw LtError.invalid(`malformed dataset: unexpected ${tag === ITEM ? 'item' : 'sequence delimiter'} at byte ${pos}`);
      return pos;
    }
    let vr: string;
    let len: number;
    let valuePos: number;
    if (ctx.explicit) {
      if (pos + 8 > b.length) truncated(ctx, `element ${tagName(tag)} header`, pos + 8);
      vr = b.toString('latin1', pos + 4, pos + 6);
      if (!/^[A-Z]{2}$/.test(vr)) throw LtError.invalid(`malformed dataset: element ${tagName(tag)} at byte ${pos} has an invalid VR`);
      if (LONG_VRS.has(vr)) {
        len = readU32(ctx, pos + 8);
        valuePos = pos + 12;
      } else {
        len = ctx.little ? b.readUInt16LE(pos + 6) : b.readUInt16BE(pos + 6);
        valuePos = pos + 8;
      }
    } else {
      len = readU32(ctx, pos + 4);
      valuePos = pos + 8;
      vr = KNOWN_SQ.has(tag) ? 'SQ' : tag === PIXEL_DATA ? 'OW' : 'xs';
    }
    if (tag === PIXEL_DATA || tag === FLOAT_PIXEL_DATA || tag === DOUBLE_PIXEL_DATA) {
      if (depth === 0) {
        if (tag !== PIXEL_DATA) throw LtError.invalid(`unsupported pixel data: ${tagName(tag)} (float pixel data) is not CT image data`);
        ctx.pixel = { offset: valuePos, length: len === UNDEFINED ? -1 : len, vr, encapsulated: len === UNDEFINED };
        return valuePos;
      }
    }
    const isSeq = vr === 'SQ' || (len === UNDEFINED && (vr === 'UN' || vr === 'xs'));
    if (isSeq) {
      const el: DicomElement = { tag, vr: 'SQ', offset: valuePos, length: len === UNDEFINED ? -1 : len, items: [] };
      ds.elements.set(tag, el);
      // PS3.5 6.2.2: a UN sequence of undefined length is encoded in implicit VR little endian.
      const inner: Ctx = vr === 'UN' ? { ...ctx, explicit: false, little: true } : ctx;
      pos = parseSequence(inner, el, valuePos, len === UNDEFINED ? undefined : valuePos + len, depth);
      if (inner !== ctx) ctx.pixel = ctx.pixel ?? inner.pixel;
      continue;
    }
    if (len === UNDEFINED) throw LtError.invalid(`malformed dataset: element ${tagName(tag)} has undefined length but is not a sequence`);
    const next = valuePos + len;
    if (end !== undefined && next > end) throw LtError.invalid(`malformed dataset: element ${tagName(tag)} overruns its enclosing item`);
    if (next > b.length) truncated(ctx, `element ${tagName(tag)} (${len} bytes)`, next);
    ds.elements.set(tag, { tag, vr, offset: valuePos, length: len });
    pos = next;
  }
}

function parseSequence(ctx: Ctx, el: DicomElement, pos: number, end: number | undefined, depth: number): number {
  for (;;) {
    if (end !== undefined && pos >= end) return pos;
    const tag = readTag(ctx, pos);
    const len = readU32(ctx, pos + 4);
    if (tag === SEQ_DELIM) return pos + 8;
    if (tag !== ITEM) throw LtError.invalid(`malformed sequence ${tagName(el.tag)}: expected an item at byte ${pos}, found ${tagName(tag)}`);
    const item = new DicomDataset(ctx.buf, ctx.little);
    el.items!.push(item);
    if (len === UNDEFINED) {
      pos = parseElements(ctx, item, pos + 8, undefined, depth + 1);
    } else {
      const itemEnd = pos + 8 + len;
      if (end !== undefined && itemEnd > end) throw LtError.invalid(`malformed sequence ${tagName(el.tag)}: an item overruns the sequence`);
      if (itemEnd > ctx.buf.length) truncated(ctx, `item of sequence ${tagName(el.tag)}`, itemEnd);
      parseElements(ctx, item, pos + 8, itemEnd, depth + 1);
      pos = itemEnd;
    }
  }
}

/**
 * Parses the header of a Part 10 file. `partial` says buf may be only the start of the file: then NeedMoreData is thrown
 * when an element the header needs lies beyond it (the Pixel Data value itself is never needed). A deflated file needs
 * its inflated data set (`inflated`); without it NeedsInflating is thrown.
 */
export function parsePart10(buf: Buffer, partial = false, inflated?: Buffer): ParsedFile {
  if (buf.length < 132) {
    if (partial) throw new NeedMoreData(132);
    throw LtError.invalid(`not a DICOM Part 10 file: only ${buf.length} bytes, shorter than the 128-byte preamble and DICM prefix`);
  }
  if (buf.toString('latin1', 128, 132) !== 'DICM') throw LtError.invalid('not a DICOM Part 10 file: no "DICM" prefix at byte 128');
  const metaCtx: Ctx = { buf, little: true, explicit: true, partial, count: { elements: 0 } };
  const meta = new DicomDataset(buf, true);
  // File meta information: group 0002, explicit VR little endian (PS3.10 7.1), parsed element by element.
  let pos = 132;
  while (pos + 8 <= buf.length && buf.readUInt16LE(pos) === 0x0002) {
    const single = new DicomDataset(buf, true);
    const vr = buf.toString('latin1', pos + 4, pos + 6);
    const long = LONG_VRS.has(vr);
    const len = long ? readU32(metaCtx, pos + 8) : buf.readUInt16LE(pos + 6);
    const end = pos + (long ? 12 : 8) + len;
    if (end > buf.length) truncated(metaCtx, 'file meta information', end);
    parseElements(metaCtx, single, pos, end, 0);
    for (const [k, v] of single.elements) meta.elements.set(k, v);
    pos = end;
  }
  if (pos + 8 > buf.length && partial) throw new NeedMoreData(pos + 8);
  const ts = meta.string(0x00020010);
  if (!ts) throw LtError.invalid('malformed file meta information: no Transfer Syntax UID (0002,0010)');
  let data = buf;
  let deflated = false;
  let start = pos;
  if (ts === TransferSyntax.DeflatedExplicitLittle) {
    if (partial) throw new NeedMoreData(Number.MAX_SAFE_INTEGER);
    if (!inflated) throw new NeedsInflating(pos);
    data = inflated;
    deflated = true;
    start = 0;
  }
  const little = ts !== TransferSyntax.ExplicitBig;
  const explicit = ts !== TransferSyntax.ImplicitLittle;
  const ctx: Ctx = { buf: data, little, explicit, partial: partial && !deflated, count: { elements: 0 } };
  const dataset = new DicomDataset(data, little);
  parseElements(ctx, dataset, start, undefined, 0);
  return { meta, dataset, transferSyntaxUid: ts, pixelData: ctx.pixel, deflated };
}

/**
 * {@link parsePart10}, inflating a deflated data set first: off the event loop and at most maxInflatedBytes
 * (LtError with 0xA700 beyond, 0xC000 for a corrupt stream).
 */
export async function parsePart10Inflating(buf: Buffer, partial = false, maxInflatedBytes = DEFAULT_MAX_INFLATED_BYTES): Promise<ParsedFile> {
  try {
    return parsePart10(buf, partial);
  } catch (e) {
    if (!(e instanceof NeedsInflating)) throw e;
    return parsePart10(buf, false, await inflateDataset(buf.subarray(e.datasetStart), maxInflatedBytes));
  }
}

/** One fragment (item) of encapsulated pixel data: offset and length relative to the buffer given. */
export interface Fragment {
  offset: number;
  length: number;
}

/**
 * Splits encapsulated pixel data (PS3.5 A.4) starting at `pos` into the Basic Offset Table and fragments.
 * Fails with a precise message when an item overruns the data or the sequence delimiter is missing.
 */
export function parseEncapsulated(buf: Buffer, pos: number, littleEndian = true): { offsets: number[]; fragments: Fragment[] } {
  const rd16 = (o: number) => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const rd32 = (o: number) => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const items: Fragment[] = [];
  for (;;) {
    if (pos + 8 > buf.length) throw LtError.invalid('truncated pixel data: encapsulated pixel data ends without a sequence delimiter');
    const tag = ((rd16(pos) << 16) | rd16(pos + 2)) >>> 0;
    const len = rd32(pos + 4);
    if (tag === SEQ_DELIM) break;
    if (tag !== ITEM) throw LtError.invalid(`corrupt pixel data: expected a fragment item at byte ${pos}, found ${tagName(tag)}`);
    if (len === UNDEFINED || pos + 8 + len > buf.length) {
      throw LtError.invalid(`truncated pixel data: ${items.length === 0 ? 'the Basic Offset Table' : `fragment ${items.length}`} declares ${len} bytes but only ${buf.length - pos - 8} remain`);
    }
    items.push({ offset: pos + 8, length: len });
    pos += 8 + len;
  }
  if (items.length === 0) throw LtError.invalid('corrupt pixel data: encapsulated pixel data has no Basic Offset Table item');
  const bot = items.shift()!;
  const offsets: number[] = [];
  for (let i = 0; i + 4 <= bot.length; i += 4) offsets.push(rd32(bot.offset + i));
  return { offsets, fragments: items };
}
