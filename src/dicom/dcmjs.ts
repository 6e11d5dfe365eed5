/**
 * The one place dcmjs is imported: it ships no type declarations, so the small surface we use is typed here.
 */
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
      denaturalizeDataset(ds: NaturalDataset): Record<string, unknown>;
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

/** Transfer syntaxes by name (PS3.6 Annex A). */
export const TransferSyntax = {
  ImplicitLittle: '1.2.840.10008.1.2',
  ExplicitLittle: '1.2.840.10008.1.2.1',
  DeflatedExplicitLittle: '1.2.840.10008.1.2.1.99',
  ExplicitBig: '1.2.840.10008.1.2.2',
  JpegBaseline: '1.2.840.10008.1.2.4.50',
  JpegExtended: '1.2.840.10008.1.2.4.51',
  JpegLossless: '1.2.840.10008.1.2.4.57',
  JpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  JpegLsLossless: '1.2.840.10008.1.2.4.80',
  JpegLsNearLossless: '1.2.840.10008.1.2.4.81',
  Jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  Jpeg2000: '1.2.840.10008.1.2.4.91',
  Rle: '1.2.840.10008.1.2.5',
} as const;

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
export function writePart10(ds: NaturalDataset, transferSyntax: string = TransferSyntax.ExplicitLittle): Buffer {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: ds.SOPClassUID,
    MediaStorageSOPInstanceUID: ds.SOPInstanceUID,
    TransferSyntaxUID: transferSyntax,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION,
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta as NaturalDataset));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return Buffer.from(dict.write());
}

/** Reads a Part 10 file into naturalized form (whole file, pixel data included). */
export function readPart10(buf: Buffer | Uint8Array): { meta: NaturalDataset; dataset: NaturalDataset } {
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const dict = DicomMessage.readFile(ab);
  return {
    meta: DicomMetaDictionary.naturalizeDataset(dict.meta),
    dataset: DicomMetaDictionary.naturalizeDataset(dict.dict),
  };
}
