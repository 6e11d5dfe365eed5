/**
 * Hostile and honest Deflated Explicit VR Little Endian files for tests, written byte by byte from an Explicit VR
 * Little Endian Part 10 file: its meta information re-labelled 1.2.840.10008.1.2.1.99, its data set (or any bytes
 * given) raw-deflated after it.
 */
import { deflateRawSync } from 'node:zlib';

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const DEFLATED = '1.2.840.10008.1.2.1.99';

/** Splits an Explicit VR Little Endian Part 10 file into its meta elements (without group length and TS) and data set. */
function split(file: Buffer): { meta: Buffer[]; dataset: Buffer } {
  let pos = 132;
  const meta: Buffer[] = [];
  while (pos + 8 <= file.length && file.readUInt16LE(pos) === 0x0002) {
    const element = file.readUInt16LE(pos + 2);
    const vr = file.toString('latin1', pos + 4, pos + 6);
    const long = LONG_VRS.has(vr);
    const end = pos + (long ? 12 + file.readUInt32LE(pos + 8) : 8 + file.readUInt16LE(pos + 6));
    if (element !== 0x0000 && element !== 0x0010) meta.push(file.subarray(pos, end));
    pos = end;
  }
  return { meta, dataset: file.subarray(pos) };
}

function shortElement(group: number, element: number, vr: string, value: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}

/**
 * The file's data set deflated (or `dataset`, raw bytes deflated in its place, or `deflated`, bytes written as they are
 * after the meta information).
 */
export function deflatedPart10(explicitLittle: Buffer, opts: { dataset?: Buffer; deflated?: Buffer } = {}): Buffer {
  const { meta, dataset } = split(explicitLittle);
  const ts = shortElement(0x0002, 0x0010, 'UI', Buffer.from(DEFLATED, 'latin1') /* 22 characters: even, no padding */);
  const body = Buffer.concat([...meta, ts]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length);
  const groupLength = shortElement(0x0002, 0x0000, 'UL', length);
  const data = opts.deflated ?? deflateRawSync(opts.dataset ?? dataset, { level: 9 });
  return Buffer.concat([explicitLittle.subarray(0, 132), groupLength, body, data]);
}

/** The data set of an Explicit VR Little Endian Part 10 file (everything after its meta information). */
export function datasetOf(explicitLittle: Buffer): Buffer {
  return split(explicitLittle).dataset;
}

/** An explicit VR little endian element with a 4-byte length (OB, SQ, UN...), of a defined or undefined (-1) length. */
export function longElement(group: number, element: number, vr: string, length: number): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  head.writeUInt32LE(length < 0 ? 0xffffffff : length, 8);
  return head;
}

/** `depth` sequences nested inside each other, each of undefined length with one undefined-length item. */
export function nestedSequences(depth: number): Buffer {
  const open = Buffer.concat([longElement(0x0040, 0xa730, 'SQ', -1), Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff])]);
  const close = Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  return Buffer.concat([Buffer.alloc(open.length * depth, open), Buffer.alloc(close.length * depth, close)]);
}

/** `count` tiny private elements (explicit VR LO, empty): a cheap way to pass any element cap. */
export function manyElements(count: number): Buffer {
  const one = shortElement(0x0009, 0x1010, 'LO', Buffer.alloc(0));
  return Buffer.alloc(one.length * count, one);
}
