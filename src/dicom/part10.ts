/**
 * The one DICOM Part 10 reader (PS3.10 7.1, PS3.5 7), for ingest and the volume stage alike. It parses the header
 * without touching the pixel data, records where the pixel data lies, and names the element when a file is truncated
 * or malformed; with `toEnd` it also walks every element after the header (fragments, trailing elements), so a
 * received file is proven whole before it counts as stored. Its guards bound any input: sequence depth, element
 * count, and the inflated size of a deflated data set (src/dicom/inflate.ts). Every refusal is an LtError with
 * DICOM reason 0xC000 (cannot understand), except the inflate cap (0xA700).
 *
 * It exists beside dcmjs because neither stage can afford what dcmjs does: read the whole file, pixel data included.
 */
import { readSync } from 'node:fs';
import { DicomReason, LtError } from '../errors';
import { TransferSyntax } from './transfer-syntax';
import { DEFAULT_MAX_INFLATED_BYTES, inflateDataset } from './inflate';
import { Tags, tagName, type Tag } from './tags';

/** Random access to bytes: a buffer, or a file through a window cache. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Buffer;
}

/** A buffer as a ByteSource. */
export function bufferBytes(buf: Buffer): ByteSource {
  return {
    size: buf.length,
    read(offset, length) {
      if (offset + length > buf.length) throw new RangeError('past end');
      return buf.subarray(offset, offset + length);
    },
  };
}

/** An open file through a small window cache, so walking a large instance reads only its element headers. */
export class FileBytes implements ByteSource {
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

/** Thrown when a partial read ends inside an element the header needs; the caller reads more. */
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

/** Most data elements (nested ones included) one file may hold: a CT image has a few hundred to a few thousand. */
export const MAX_ELEMENTS = 100_000;
/** Deepest sequence nesting accepted. */
export const MAX_DEPTH = 32;

/** One parsed element: where its value lies in the byte source, or its items for a sequence. */
export interface DicomElement {
  tag: Tag;
  vr: string;
  /** Offset of the value in the data set's bytes. */
  offset: number;
  /** Value length in bytes; -1 for undefined length (encapsulated pixel data). */
  length: number;
  /** The whole element as received (header, value, items and delimiters): [start, end) in the data set's bytes. */
  start: number;
  end: number;
  items?: DicomDataset[];
}

/** Where the pixel data of an instance lies. */
export interface PixelDataLocation {
  /** Pixel Data (7FE0,0010), or Float / Double Float Pixel Data. */
  tag: Tag;
  /** Byte offset of the value in the (inflated, for deflate) dataset stream, counted from the file start for non-deflated files. */
  offset: number;
  /** Value length, or -1 when encapsulated (undefined length, PS3.5 A.4). */
  length: number;
  vr: string;
  encapsulated: boolean;
}

// VRs with a 4-byte length in explicit VR (PS3.5 7.1.2).
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UR', 'UT', 'UN', 'SV', 'UV']);
const UNDEFINED = 0xffffffff;
const PIXEL_DATA_TAGS = new Set<Tag>([Tags.PixelData, Tags.FloatPixelData, Tags.DoubleFloatPixelData]);

// Sequences the stages read, so they are recognised in implicit VR with a defined length.
const KNOWN_SQ = new Set<Tag>([
  Tags.SharedFunctionalGroupsSequence,
  Tags.PerFrameFunctionalGroupsSequence,
  Tags.PlanePositionSequence,
  Tags.PlaneOrientationSequence,
  Tags.PixelMeasuresSequence,
  Tags.PixelValueTransformationSequence,
  Tags.CTImageFrameTypeSequence,
  Tags.CTReconstructionSequence,
  Tags.FrameContentSequence,
  Tags.RequestAttributesSequence,
]);

const malformed = (message: string) => LtError.invalid(message, DicomReason.CannotUnderstand);

/** A parsed dataset (or sequence item) over its bytes; values are decoded on demand. */
export class DicomDataset {
  readonly elements = new Map<Tag, DicomElement>();
  constructor(
    readonly source: ByteSource,
    readonly littleEndian: boolean,
  ) {}

  has(tag: Tag): boolean {
    return this.elements.has(tag);
  }

  /** Raw value bytes of an element. */
  bytes(tag: Tag): Buffer | undefined {
    const e = this.elements.get(tag);
    if (!e || e.length < 0) return undefined;
    return this.source.read(e.offset, e.length);
  }

  /** A string value, padding (space/NUL) removed; undefined when absent or empty. */
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
    const b = this.source.read(e.offset, e.length);
    const le = this.littleEndian;
    const read = (size: number, f: (o: number) => number) => Array.from({ length: Math.floor(e.length / size) }, (_, i) => f(i * size));
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
    const b = this.source.read(e.offset, 2);
    return this.littleEndian ? b.readUInt16LE(0) : b.readUInt16BE(0);
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
  /** Location of the top-level pixel data, if present. */
  pixelData?: PixelDataLocation;
  /** True when the dataset was deflated: offsets refer to the inflated buffer. */
  deflated: boolean;
  /** The inflated data set of a deflated file. */
  inflated?: Buffer;
}

/** How much of a file to read, and from what. */
export interface Part10Options {
  /** The bytes are only the start of the file: running off their end throws NeedMoreData instead of failing. */
  partial?: boolean;
  /** Walk every element to the end of the file (pixel data fragments, trailing elements), not only the header. */
  toEnd?: boolean;
  /** The inflated data set of a deflated file (else NeedsInflating is thrown). */
  inflated?: Buffer;
}

interface Ctx {
  src: ByteSource;
  little: boolean;
  explicit: boolean;
  partial: boolean;
  toEnd: boolean;
  pixel?: PixelDataLocation;
  /** Elements parsed so far, nested ones included (shared by the contexts of one data set). */
  count: { elements: number };
}

/** Asserts the bytes reach end: else the file is truncated (or, for a partial read, more must be read). */
function need(ctx: Ctx, end: number, what: string): void {
  if (end <= ctx.src.size) return;
  if (ctx.partial) throw new NeedMoreData(end);
  throw malformed(`truncated file: ${what} runs to byte ${end} but the data ends at byte ${ctx.src.size}`);
}

function readTag(ctx: Ctx, head: Buffer): Tag {
  const g = ctx.little ? head.readUInt16LE(0) : head.readUInt16BE(0);
  const e = ctx.little ? head.readUInt16LE(2) : head.readUInt16BE(2);
  return ((g << 16) | e) >>> 0;
}

const u32 = (ctx: Ctx, b: Buffer, at: number) => (ctx.little ? b.readUInt32LE(at) : b.readUInt32BE(at));

/**
 * Parses elements from pos until end, or for an undefined-length item (end undefined, depth > 0) its delimiter.
 * At the top level it stops at the pixel data, recording its location, unless ctx.toEnd. Elements are recorded in
 * dataset when given. Returns the position after the last element consumed.
 */
function parseElements(ctx: Ctx, dataset: DicomDataset | undefined, pos: number, end: number | undefined, depth: number): number {
  if (depth > MAX_DEPTH) throw malformed(`malformed dataset: sequences nested too deeply (more than ${MAX_DEPTH} levels)`);
  const size = ctx.src.size;
  for (;;) {
    if (end !== undefined && pos >= end) return pos;
    if (end === undefined && pos >= size) {
      if (depth === 0) return pos;
      need(ctx, pos + 8, 'sequence item without delimiter');
    }
    if (++ctx.count.elements > MAX_ELEMENTS) throw malformed(`malformed dataset: too many data elements (more than ${MAX_ELEMENTS})`);
    need(ctx, pos + 8, `data element header at byte ${pos}`);
    const head = ctx.src.read(pos, 8);
    const tag = readTag(ctx, head);
    // Delimiters are always implicit VR with a 4-byte length (PS3.5 7.5).
    if (tag >>> 16 === 0xfffe) {
      if (tag === Tags.ItemDelimitationItem && end === undefined && depth > 0) return pos + 8;
      throw malformed(`malformed dataset: unexpected ${tagName(tag)} at byte ${pos}`);
    }
    let vr: string;
    let len: number;
    let valuePos: number;
    if (ctx.explicit) {
      vr = head.toString('latin1', 4, 6);
      if (!/^[A-Z]{2}$/.test(vr)) throw malformed(`malformed dataset: element ${tagName(tag)} at byte ${pos} has an invalid VR`);
      if (LONG_VRS.has(vr)) {
        need(ctx, pos + 12, `element ${tagName(tag)} header`);
        len = u32(ctx, ctx.src.read(pos + 8, 4), 0);
        valuePos = pos + 12;
      } else {
        len = ctx.little ? head.readUInt16LE(6) : head.readUInt16BE(6);
        valuePos = pos + 8;
      }
    } else {
      len = u32(ctx, head, 4);
      valuePos = pos + 8;
      vr = KNOWN_SQ.has(tag) ? 'SQ' : tag === Tags.PixelData ? 'OW' : 'xs';
    }
    const defined = len !== UNDEFINED;
    if (depth === 0 && PIXEL_DATA_TAGS.has(tag)) {
      ctx.pixel = { tag, offset: valuePos, length: defined ? len : -1, vr, encapsulated: !defined };
      if (!ctx.toEnd) return valuePos;
      dataset = undefined; // nothing after the pixel data belongs to the header
    }
    if (vr === 'SQ' || (!defined && (vr === 'UN' || vr === 'xs') && tag !== Tags.PixelData)) {
      const items = dataset ? [] : undefined;
      // PS3.5 6.2.2: a UN sequence of undefined length is encoded in implicit VR little endian.
      const inner: Ctx = vr === 'UN' ? { ...ctx, explicit: false, little: true } : ctx;
      const start = pos;
      pos = parseSequence(inner, items, tag, valuePos, defined ? valuePos + len : undefined, depth);
      dataset?.elements.set(tag, { tag, vr: 'SQ', offset: valuePos, length: defined ? len : -1, start, end: pos, items });
      continue;
    }
    if (!defined) {
      if (vr !== 'OB' && vr !== 'OW') throw malformed(`malformed dataset: element ${tagName(tag)} has undefined length but is not a sequence`);
      // Encapsulated pixel data (top level past the header, or an icon image's): fragments up to the delimiter.
      const start = pos;
      pos = walkFragments(ctx, tag, valuePos);
      dataset?.elements.set(tag, { tag, vr, offset: valuePos, length: -1, start, end: pos });
      continue;
    }
    const next = valuePos + len;
    if (end !== undefined && next > end) throw malformed(`malformed dataset: element ${tagName(tag)} overruns its enclosing item`);
    need(ctx, next, `element ${tagName(tag)} (${len} bytes)`);
    dataset?.elements.set(tag, { tag, vr, offset: valuePos, length: len, start: pos, end: next });
    pos = next;
  }
}

function parseSequence(ctx: Ctx, items: DicomDataset[] | undefined, seq: Tag, pos: number, end: number | undefined, depth: number): number {
  for (;;) {
    if (end !== undefined && pos >= end) return pos;
    need(ctx, pos + 8, `item of sequence ${tagName(seq)}${end === undefined ? ' (no sequence delimiter)' : ''}`);
    const head = ctx.src.read(pos, 8);
    const tag = readTag(ctx, head);
    const len = u32(ctx, head, 4);
    if (tag === Tags.SequenceDelimitationItem) {
      if (end !== undefined) throw malformed(`malformed sequence ${tagName(seq)}: sequence delimiter inside a sequence of defined length`);
      return pos + 8;
    }
    if (tag !== Tags.Item) throw malformed(`malformed sequence ${tagName(seq)}: expected an item at byte ${pos}, found ${tagName(tag)}`);
    const item = items ? new DicomDataset(ctx.src, ctx.little) : undefined;
    if (item) items!.push(item);
    if (len === UNDEFINED) {
      pos = parseElements(ctx, item, pos + 8, undefined, depth + 1);
    } else {
      const itemEnd = pos + 8 + len;
      if (end !== undefined && itemEnd > end) throw malformed(`malformed sequence ${tagName(seq)}: an item overruns the sequence`);
      need(ctx, itemEnd, `item of sequence ${tagName(seq)}`);
      parseElements(ctx, item, pos + 8, itemEnd, depth + 1);
      pos = itemEnd;
    }
  }
}

/** Walks the fragments of encapsulated pixel data (PS3.5 A.4) up to its sequence delimiter; returns the position after it. */
function walkFragments(ctx: Ctx, of: Tag, pos: number): number {
  for (;;) {
    need(ctx, pos + 8, `pixel data fragment in ${tagName(of)} (no sequence delimiter)`);
    const head = ctx.src.read(pos, 8);
    const tag = readTag(ctx, head);
    const len = u32(ctx, head, 4);
    if (tag === Tags.SequenceDelimitationItem) return pos + 8;
    if (tag !== Tags.Item) throw malformed(`corrupt pixel data: expected a fragment item in ${tagName(of)} at byte ${pos}, found ${tagName(tag)}`);
    if (len === UNDEFINED) throw malformed('corrupt pixel data: encapsulated pixel data fragment of undefined length');
    need(ctx, pos + 8 + len, `pixel data fragment in ${tagName(of)} (${len} bytes)`);
    pos += 8 + len;
  }
}

/**
 * Parses a Part 10 file: its file meta information and its data set's header (everything before the pixel data),
 * or with `toEnd` every element to the end of the file. A deflated file needs its inflated data set (`inflated`);
 * without it NeedsInflating is thrown. Throws LtError (0xC000) on a malformed or truncated file.
 */
export function parsePart10(input: Buffer | ByteSource, opts: Part10Options = {}): ParsedFile {
  const src = Buffer.isBuffer(input) ? bufferBytes(input) : input;
  const partial = opts.partial ?? false;
  if (src.size < 132) {
    if (partial) throw new NeedMoreData(132);
    throw malformed(`not a DICOM Part 10 file: only ${src.size} bytes, shorter than the 128-byte preamble and DICM prefix`);
  }
  if (src.read(128, 4).toString('latin1') !== 'DICM') throw malformed('not a DICOM Part 10 file: no "DICM" prefix at byte 128');
  const metaCtx: Ctx = { src, little: true, explicit: true, partial, toEnd: false, count: { elements: 0 } };
  const meta = new DicomDataset(src, true);
  // File meta information: group 0002, explicit VR little endian (PS3.10 7.1), parsed element by element.
  let pos = 132;
  while (pos + 8 <= src.size && src.read(pos, 2).readUInt16LE(0) === 0x0002) {
    const head = src.read(pos, 8);
    const long = LONG_VRS.has(head.toString('latin1', 4, 6));
    if (long) need(metaCtx, pos + 12, 'file meta information');
    const len = long ? src.read(pos + 8, 4).readUInt32LE(0) : head.readUInt16LE(6);
    const end = pos + (long ? 12 : 8) + len;
    need(metaCtx, end, `file meta element ${tagName(readTag(metaCtx, head))}`);
    parseElements(metaCtx, meta, pos, end, 0);
    pos = end;
  }
  if (pos + 8 > src.size && partial) throw new NeedMoreData(pos + 8);
  const ts = meta.string(Tags.TransferSyntaxUID);
  if (!ts) throw malformed('malformed file meta information: no Transfer Syntax UID (0002,0010)');
  let data = src;
  let start = pos;
  const deflated = ts === TransferSyntax.DeflatedExplicitLittle;
  if (deflated) {
    if (partial) throw new NeedMoreData(Number.MAX_SAFE_INTEGER);
    if (!opts.inflated) throw new NeedsInflating(pos);
    data = bufferBytes(opts.inflated);
    start = 0;
  }
  const little = ts !== TransferSyntax.ExplicitBig;
  const ctx: Ctx = { src: data, little, explicit: ts !== TransferSyntax.ImplicitLittle, partial: partial && !deflated, toEnd: opts.toEnd ?? false, count: { elements: 0 } };
  const dataset = new DicomDataset(data, little);
  parseElements(ctx, dataset, start, undefined, 0);
  return { meta, dataset, transferSyntaxUid: ts, pixelData: ctx.pixel, deflated, inflated: deflated ? opts.inflated : undefined };
}

/**
 * {@link parsePart10}, inflating a deflated data set first: off the event loop and at most maxInflatedBytes
 * (LtError with 0xA700 beyond, 0xC000 for a corrupt stream).
 */
export async function parsePart10Inflating(input: Buffer | ByteSource, opts: Part10Options & { maxInflatedBytes?: number } = {}): Promise<ParsedFile> {
  try {
    return parsePart10(input, opts);
  } catch (e) {
    if (!(e instanceof NeedsInflating)) throw e;
    const src = Buffer.isBuffer(input) ? bufferBytes(input) : input;
    const inflated = await inflateDataset(src.read(e.datasetStart, src.size - e.datasetStart), opts.maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES);
    return parsePart10(input, { ...opts, inflated });
  }
}

/**
 * A Part 10 file holding only `tags` of a parsed file's top-level data set, each element copied byte for byte as
 * received, in the data set's own encoding (a deflated one's inflated Explicit VR Little Endian): whoever decodes it
 * later (dcmjs, with the Specific Character Set when it is among the tags) gets exactly what the whole file gives.
 */
export function part10Excerpt(parsed: ParsedFile, tags: readonly Tag[]): Buffer {
  const dataset = parsed.dataset;
  const elements = [...new Set(tags)]
    .sort((a, b) => a - b)
    .map((t) => dataset.elements.get(t))
    .filter((e): e is DicomElement => e !== undefined)
    .map((e) => dataset.source.read(e.start, e.end - e.start));
  const ts = parsed.deflated ? TransferSyntax.ExplicitLittle : parsed.transferSyntaxUid;
  return Buffer.concat([fileMetaInformation(ts), ...elements]);
}

/** Preamble, DICM and the file meta information a Part 10 file needs to be read: its version and transfer syntax (PS3.10 7.1). */
function fileMetaInformation(transferSyntaxUid: string): Buffer {
  const uid = Buffer.from(transferSyntaxUid.length % 2 ? `${transferSyntaxUid}\0` : transferSyntaxUid, 'latin1');
  const version = Buffer.from([0x02, 0x00, 0x01, 0x00, 0x4f, 0x42, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
  const syntax = Buffer.alloc(8 + uid.length);
  syntax.write('\x02\x00\x10\x00UI', 0, 'latin1');
  syntax.writeUInt16LE(uid.length, 6);
  uid.copy(syntax, 8);
  const groupLength = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x55, 0x4c, 0x04, 0x00, 0, 0, 0, 0]);
  groupLength.writeUInt32LE(version.length + syntax.length, 8);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), groupLength, version, syntax]);
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
    if (tag === Tags.SequenceDelimitationItem) break;
    if (tag !== Tags.Item) throw LtError.invalid(`corrupt pixel data: expected a fragment item at byte ${pos}, found ${tagName(tag)}`);
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
