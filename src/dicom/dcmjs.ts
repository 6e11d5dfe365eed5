/**
 * The one place dcmjs is imported: it ships no type declarations, so the small surface we use is typed here.
 */
import { DicomReason, LtError } from '../errors';
import { parsePart10 } from './part10';
import { Tags } from './tags';
import { TransferSyntax } from './transfer-syntax';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dcmjs = require('dcmjs') as DcmjsModule;

/** A dataset in dcmjs "naturalized" form: keyword -> value, with _vrMap for explicit VRs. */
export type NaturalDataset = Record<string, unknown> & { _vrMap?: Record<string, string>; _meta?: unknown };

interface DicomDictInstance {
  meta: Record<string, unknown>;
  dict: Record<string, unknown>;
  write(options?: { allowInvalidVRLength?: boolean; fragmentMultiframe?: boolean }): ArrayBuffer;
}

interface DcmjsModule {
  data: {
    DicomMessage: {
      readFile(
        buffer: ArrayBuffer,
        options?: { ignoreErrors?: boolean; untilTag?: string; includeUntilTagValue?: boolean; noCopy?: boolean; forceStoreRaw?: boolean },
      ): DicomDictInstance;
    };
    DicomDict: new (meta: Record<string, unknown>) => DicomDictInstance;
    DicomMetaDictionary: {
      naturalizeDataset(dict: Record<string, unknown>): NaturalDataset;
      denaturalizeDataset(dataset: NaturalDataset): Record<string, unknown>;
      uid(): string;
      date(): string;
      time(): string;
    };
  };
  log: { setLevel?(level: string): void; getLogger?(name: string): { setLevel(level: string): void } };
}

export const { DicomMessage, DicomDict, DicomMetaDictionary } = dcmjs.data;

// dcmjs logs warnings to the console for benign quirks; our JSON logs must stay parseable.
// Our checks report problems precisely; dcmjs's own console chatter (e.g. "Invalid vr type ox" for implicit VR
// pixel data) would only break JSON-lines logs.
for (const name of ['validation.dcmjs', 'AsyncDicomReader']) dcmjs.log.getLogger?.(name).setLevel('silent');
dcmjs.log.setLevel?.('silent');

export { TransferSyntax };

/** SOP classes we read or write (PS3.4 Annex B). */
export const SopClass = {
  CtImage: '1.2.840.10008.5.1.4.1.1.2',
  EnhancedCtImage: '1.2.840.10008.5.1.4.1.1.2.1',
  SecondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  Comprehensive3dSr: '1.2.840.10008.5.1.4.1.1.88.34',
  KeyObjectSelection: '1.2.840.10008.5.1.4.1.1.88.59',
  Segmentation: '1.2.840.10008.5.1.4.1.1.66.4',
  XRayRadiationDoseSr: '1.2.840.10008.5.1.4.1.1.88.67',
} as const;

/** Our implementation identity for Part 10 meta headers. */
export const IMPLEMENTATION_CLASS_UID = '2.25.180851397460871412212046151633493211411';
export const IMPLEMENTATION_VERSION = 'LUNGTRIAGE_01';

/** Serialises a naturalized dataset as a Part 10 file (Explicit VR Little Endian unless told otherwise). */
export function writePart10(dataset: NaturalDataset, transferSyntax: string = TransferSyntax.ExplicitLittle): Buffer {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: transferSyntax,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION,
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta as NaturalDataset));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return Buffer.from(dict.write());
}

/**
 * Reads a Part 10 file into naturalized form (whole file, pixel data included). Text is decoded by its Specific
 * Character Set into JavaScript strings (dcmjs then calls the data set ISO_IR 192, as we write it).
 */
export function readPart10(buf: Buffer | Uint8Array): { meta: NaturalDataset; dataset: NaturalDataset } {
  buf = withOneCharacterSetTerm(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const dict = DicomMessage.readFile(ab);
  return {
    meta: DicomMetaDictionary.naturalizeDataset(dict.meta),
    dataset: DicomMetaDictionary.naturalizeDataset(dict.dict),
  };
}

/**
 * dcmjs decodes a data set's text with one decoder and refuses a Specific Character Set with several terms: the ISO
 * 2022 code extensions (PS3.5 6.1.2.5) Japanese uses, "\\ISO 2022 IR 87" (the default repertoire, then JIS X 0208 behind
 * ESC $ B). The WHATWG iso-2022-jp decoder (dcmjs's for the term ISO 2022 IR 87) switches on exactly those escapes,
 * so such a list is handed to dcmjs as that one term, in a copy of the file (same length, space padded). Other lists
 * of several terms are refused by name: decoding them with one decoder would garble the text.
 */
function withOneCharacterSetTerm(buf: Buffer): Buffer {
  let header;
  try {
    header = parsePart10(buf);
  } catch {
    return buf; // deflated or malformed: dcmjs reads (or refuses) it as it is
  }
  const el = header.dataset.elements.get(Tags.SpecificCharacterSet);
  const terms = header.dataset.strings(Tags.SpecificCharacterSet);
  if (!el || terms.length < 2) return buf;
  const problem = unsupportedCharacterSet(terms);
  if (problem) {
    const sop = header.dataset.string(Tags.SOPInstanceUID);
    throw LtError.invalid(`${problem}${sop ? ` in instance ${sop}` : ''}`, DicomReason.CannotUnderstand);
  }
  const copy = Buffer.from(buf);
  copy.write('ISO 2022 IR 87'.padEnd(el.length, ' '), el.offset, el.length, 'latin1');
  return copy;
}

/**
 * Why a data set's text cannot be read with these Specific Character Set terms (see withOneCharacterSetTerm), or
 * undefined when it can. Ingest refuses such an instance, so a study is never accepted whose report cannot be written.
 */
export function unsupportedCharacterSet(terms: string[]): string | undefined {
  if (terms.length < 2) return undefined;
  const extensions = terms.filter((t) => t !== '' && t !== 'ISO 2022 IR 6');
  if (extensions.length === 1 && extensions[0] === 'ISO 2022 IR 87') return undefined;
  return `Specific Character Set ${terms.join('\\')} is not supported (one term, or ISO 2022 IR 87 with the default repertoire)`;
}
