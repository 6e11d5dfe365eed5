/**
 * Deflated Explicit VR Little Endian input at ingest (readInstanceInfo) and in the volume stage (readInstanceHeader,
 * parsePart10Inflating): honest files read, a deflate bomb stops at the inflated-size cap (0xA700), a corrupt stream
 * is 0xC000 (issue 17, Critical 1); the nesting and element-count guards hold after inflation (Critical 2).
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readInstanceInfo } from '../../src/ingest/part10';
import { parsePart10Inflating } from '../../src/dicom/part10';
import { readInstanceHeader } from '../../src/dicom/instance-header';
import { DicomReason, LtError } from '../../src/errors';
import { TransferSyntax } from '../../src/dicom/dcmjs';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { datasetOf, deflatedPart10, longElement, manyElements, nestedSequences } from '../support/deflate';
import { tempDir } from '../support/temp-dir';

const dir = tempDir('deflate');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const [slice] = phantomSeries(chestPhantom({ size: 32, slices: 1 }), { seed: 'deflate-unit' });
let n = 0;
const file = (bytes: Buffer) => {
  const p = path.join(dir, `${n++}.dcm`);
  writeFileSync(p, bytes);
  return p;
};
const MiB = 1024 * 1024;
/** The slice with 64 MiB of zeros in a private element after Pixel Data: about 64 KB once deflated. */
const bomb = () => deflatedPart10(slice.bytes, { dataset: Buffer.concat([datasetOf(slice.bytes), longElement(0x7fe1, 0x0010, 'OB', 64 * MiB), Buffer.alloc(64 * MiB)]) });
async function failure(p: Promise<unknown>): Promise<LtError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LtError);
  return e as LtError;
}

describe('deflated data sets', () => {
  test('an honest deflated instance is read at ingest and in the volume stage', async () => {
    const bytes = deflatedPart10(slice.bytes);
    const info = await readInstanceInfo(file(bytes));
    expect(info.sopInstanceUid).toBe(slice.sopInstanceUid);
    expect(info.transferSyntaxUid).toBe(TransferSyntax.DeflatedExplicitLittle);
    expect(info.modality).toBe('CT');
    const parsed = await parsePart10Inflating(bytes);
    expect(parsed.deflated).toBe(true);
    expect(parsed.pixelData?.length).toBe(32 * 32 * 2);
    expect((await readInstanceHeader(file(bytes))).rows).toBe(32);
  });

  test('a deflate bomb is refused at the inflated-size cap with 0xA700, at ingest and in the volume stage', async () => {
    const bytes = bomb();
    expect(bytes.length).toBeLessThan(MiB);
    const t0 = performance.now();
    const ingest = await failure(readInstanceInfo(file(bytes), { maxInflatedBytes: 8 * MiB }));
    expect(ingest.dicomReason).toBe(DicomReason.OutOfResources);
    expect(ingest.message).toMatch(/inflates to more than 8388608 bytes/);
    expect((await failure(parsePart10Inflating(bytes, { maxInflatedBytes: 8 * MiB }))).dicomReason).toBe(DicomReason.OutOfResources);
    expect((await failure(readInstanceHeader(file(bytes), 8 * MiB))).dicomReason).toBe(DicomReason.OutOfResources);
    // Measured, not asserted: the machine may be loaded.
    process.stdout.write(`deflate bomb (${bytes.length} bytes, 64 MiB inflated) refused three times in ${Math.round(performance.now() - t0)} ms\n`);
  });

  test('the event loop keeps turning while a bomb is inflated', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await failure(readInstanceInfo(file(bomb()), { maxInflatedBytes: 48 * MiB }));
    clearInterval(timer);
    // Inflating 48 MiB synchronously would leave no turn at all until it ended.
    expect(ticks).toBeGreaterThan(0);
  });

  test('a corrupt deflate stream is 0xC000 at ingest and in the volume stage', async () => {
    const bytes = deflatedPart10(slice.bytes, { deflated: Buffer.from('this is not a deflate stream, not at all', 'latin1') });
    const ingest = await failure(readInstanceInfo(file(bytes)));
    expect(ingest.dicomReason).toBe(DicomReason.CannotUnderstand);
    expect(ingest.message).toMatch(/corrupt deflated data set/);
    expect((await failure(parsePart10Inflating(bytes))).dicomReason).toBe(DicomReason.CannotUnderstand);
  });
});

describe('structure guards after inflation', () => {
  /** The slice, deflated, with `extra` elements in front of its data set (out of tag order, which the guards do not need). */
  const withPrefix = (extra: Buffer) => deflatedPart10(slice.bytes, { dataset: Buffer.concat([extra, datasetOf(slice.bytes)]) });

  test('thousands of nested sequences in a few KB are refused as 0xC000 at ingest and in the volume stage, by the same guard', async () => {
    const bytes = withPrefix(nestedSequences(30_000));
    expect(bytes.length).toBeLessThan(16 * 1024);
    const t0 = performance.now();
    const ingest = await failure(readInstanceInfo(file(bytes)));
    expect(ingest.dicomReason).toBe(DicomReason.CannotUnderstand);
    expect(ingest.message).toMatch(/nested too deeply \(more than 32 levels\)/);
    const t1 = performance.now();
    const volume = await failure(parsePart10Inflating(bytes));
    expect([volume.dicomReason, volume.message]).toEqual([DicomReason.CannotUnderstand, ingest.message]);
    process.stdout.write(`30,000 nested sequences (${bytes.length} bytes deflated): ingest refused in ${Math.round(t1 - t0)} ms, volume stage in ${Math.round(performance.now() - t1)} ms\n`);
  });

  test('more data elements than a CT image has (150,000) are refused at ingest and in the volume stage', async () => {
    const bytes = withPrefix(manyElements(150_000));
    const ingest = await failure(readInstanceInfo(file(bytes)));
    expect(ingest.dicomReason).toBe(DicomReason.CannotUnderstand);
    expect(ingest.message).toMatch(/too many data elements/);
    expect((await failure(parsePart10Inflating(bytes))).message).toBe(ingest.message);
    expect(ingest.message).toMatch(/more than 100000\)/);
    // The same count uncompressed is refused by the walker too.
    const plain = Buffer.concat([slice.bytes.subarray(0, slice.bytes.length - datasetOf(slice.bytes).length), manyElements(150_000), datasetOf(slice.bytes)]);
    expect((await failure(readInstanceInfo(file(plain)))).message).toMatch(/too many data elements/);
  });

  test('a real image stays far below the element cap', async () => {
    const bytes = withPrefix(manyElements(5_000));
    await expect(readInstanceInfo(file(bytes))).resolves.toMatchObject({ sopInstanceUid: slice.sopInstanceUid });
    await expect(parsePart10Inflating(bytes)).resolves.toMatchObject({ deflated: true });
  });
});
