import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { readInstanceInfo } from '../../src/ingest/part10';
import { DicomReason, LtError } from '../../src/errors';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { DicomDict, DicomMetaDictionary, readPart10, writePart10, TransferSyntax, type NaturalDataset } from '../../src/dicom/dcmjs';
import { seriesWithName } from '../support/charset';
import { tempDir } from '../support/temp-dir';

const dir = tempDir('part10');
const [slice] = phantomSeries(chestPhantom({ size: 32, slices: 1 }));
let n = 0;
function file(bytes: Buffer): string {
  const p = path.join(dir, `${n++}.dcm`);
  writeFileSync(p, bytes);
  return p;
}
async function reasonOf(bytes: Buffer): Promise<number | undefined> {
  try {
    await readInstanceInfo(file(bytes));
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(LtError);
    return (e as LtError).dicomReason;
  }
}

describe('readInstanceInfo', () => {
  test('reads the identifying attributes of a valid instance', async () => {
    const info = await readInstanceInfo(file(slice.bytes));
    expect(info.sopInstanceUid).toBe(slice.sopInstanceUid);
    expect(info.transferSyntaxUid).toBe(TransferSyntax.ExplicitLittle);
    expect(info.modality).toBe('CT');
    expect(info.header.pixelData?.offset).toBeGreaterThan(132);
  });

  test('implicit VR little endian and explicit big endian files are walked too', async () => {
    for (const ts of [TransferSyntax.ImplicitLittle, TransferSyntax.ExplicitBig]) {
      const [s] = phantomSeries(chestPhantom({ size: 16, slices: 1 }), { transferSyntax: ts });
      expect((await readInstanceInfo(file(s.bytes))).transferSyntaxUid).toBe(ts);
    }
  });

  test('every truncation point is refused as not understood (0xC000), never crashes', async () => {
    for (let cut = 0; cut < slice.bytes.length; cut += 97) expect(await reasonOf(slice.bytes.subarray(0, cut))).toBe(DicomReason.CannotUnderstand);
    expect(await reasonOf(slice.bytes.subarray(0, slice.bytes.length - 1))).toBe(DicomReason.CannotUnderstand);
  });

  test('not DICOM at all is 0xC000', async () => {
    expect(await reasonOf(Buffer.from('%PDF-1.4 hello'))).toBe(DicomReason.CannotUnderstand);
    expect(await reasonOf(Buffer.alloc(4000))).toBe(DicomReason.CannotUnderstand);
  });

  test('a SOP Instance UID over 64 characters is refused (0xA900)', async () => {
    // dcmjs truncates on write, so splice the over-long value into the bytes as a careless sender would.
    const tag = Buffer.from([0x08, 0x00, 0x18, 0x00, 0x55, 0x49]);
    const at = slice.bytes.indexOf(tag, 132);
    const len = slice.bytes.readUInt16LE(at + 6);
    const long = Buffer.from('1.' + '2'.repeat(70), 'latin1');
    const head = Buffer.from(slice.bytes.subarray(0, at + 8));
    head.writeUInt16LE(long.length, at + 6);
    expect(await reasonOf(Buffer.concat([head, long, slice.bytes.subarray(at + 8 + len)]))).toBe(DicomReason.DataSetDoesNotMatchSopClass);
  });

  test.each([
    ['empty', ''],
    ['non-numeric', '1.2.abc'],
    ['leading zero component', '1.02.3'],
    ['path trick', '../../etc/passwd'],
  ])('a %s SOP Instance UID is refused (0xA900)', async (_name, uid) => {
    const { meta, dataset } = readPart10(slice.bytes);
    dataset.SOPInstanceUID = uid;
    meta.MediaStorageSOPInstanceUID = uid;
    // Written raw (no VR length checks) to get the malformed value onto disk as a sender might.
    const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta as NaturalDataset));
    dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
    expect(await reasonOf(Buffer.from(dict.write({ allowInvalidVRLength: true })))).toBe(DicomReason.DataSetDoesNotMatchSopClass);
  });

  test('a missing Study Instance UID is refused (0xA900)', async () => {
    const { dataset } = readPart10(slice.bytes);
    delete dataset.StudyInstanceUID;
    expect(await reasonOf(writePart10(dataset))).toBe(DicomReason.DataSetDoesNotMatchSopClass);
  });
});

describe('Specific Character Set', () => {
  test('a set of terms the results cannot decode is refused at ingest with 0xC000, naming the instance; ISO 2022 IR 87 is taken', async () => {
    const [korean] = seriesWithName(['', 'ISO 2022 IR 149'], Buffer.from('Hong^Gildong'), { seed: 'charset-korean' });
    const err = await readInstanceInfo(file(korean.bytes)).then(
      () => undefined,
      (e: unknown) => e as LtError,
    );
    expect(err?.dicomReason).toBe(DicomReason.CannotUnderstand);
    expect(err?.message).toContain('ISO 2022 IR 149');
    expect(err?.details).toMatchObject({ sopInstanceUid: korean.sopInstanceUid });
    const [japanese] = seriesWithName(['', 'ISO 2022 IR 87'], Buffer.from('Yamada^Tarou'), { seed: 'charset-japanese' });
    expect((await readInstanceInfo(file(japanese.bytes))).sopInstanceUid).toBe(japanese.sopInstanceUid);
  });
});
