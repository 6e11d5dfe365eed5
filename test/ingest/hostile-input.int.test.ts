/**
 * Hostile files against a real gateway and real PostgreSQL (issue 17): each is refused per instance in the STOW
 * response while the good instances of the same request are stored and the gateway keeps answering.
 */
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { DicomReason } from '../../src/errors';
import { testGateway } from '../support/gateway';
import { gzipSync } from 'node:zlib';
import { multipartBody, postStow, seqItems } from '../support/stow';
import { datasetOf, deflatedPart10, longElement, manyElements, nestedSequences } from '../support/deflate';
import type { Gateway } from '../../src/gateway';
import { JAPANESE_NAME, seriesWithName } from '../support/charset';

const MiB = 1024 * 1024;
const MAX_PARTS = 50;
const val = (item: Record<string, { Value?: unknown[] }>, tag: string) => item[tag]?.Value?.[0];

describe('hostile input over STOW-RS (real gateway, real PostgreSQL)', () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    // No LT_MAX_INFLATED_BYTES: its default follows the 4 MiB instance limit.
    ({ gw, url: base, cleanup } = await testGateway({ LT_MAX_BODY_BYTES: String(16 * MiB), LT_MAX_INSTANCE_BYTES: String(4 * MiB), LT_MAX_PARTS_PER_REQUEST: String(MAX_PARTS) }));
  });
  afterAll(() => cleanup());

  test('deflate bomb: 0xA700 for the bomb, 0xC000 for a corrupt stream, the honest deflated instance stored (202)', async () => {
    const [good, bombSlice, corruptSlice] = phantomSeries(chestPhantom({ size: 32, slices: 3 }), { seed: 'hostile-deflate' });
    // 256 MiB of zeros in a private element after Pixel Data: about 260 KB on the wire.
    const bomb = deflatedPart10(bombSlice.bytes, {
      dataset: Buffer.concat([datasetOf(bombSlice.bytes), longElement(0x7fe1, 0x0010, 'OB', 256 * MiB), Buffer.alloc(256 * MiB)]),
    });
    expect(bomb.length).toBeLessThan(MiB);
    const corrupt = deflatedPart10(corruptSlice.bytes, { deflated: Buffer.from('not a deflate stream at all, just text', 'latin1') });
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody([deflatedPart10(good.bytes), bomb, corrupt]));
    expect(status).toBe(202);
    expect(seqItems(json, '00081199').map((i) => val(i, '00081155'))).toEqual([good.sopInstanceUid]);
    expect(seqItems(json, '00081198').map((i) => val(i, '00081197'))).toEqual([DicomReason.OutOfResources, DicomReason.CannotUnderstand]);
    const rows = (await gw.db.dataSource.query(`SELECT sop_instance_uid FROM instance WHERE sop_instance_uid = ANY($1)`, [
      [good.sopInstanceUid, bombSlice.sopInstanceUid, corruptSlice.sopInstanceUid],
    ])) as { sop_instance_uid: string }[];
    expect(rows.map((r) => r.sop_instance_uid)).toEqual([good.sopInstanceUid]);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  test('nesting in deflated data: 90,000 nested sequences in 15 KB and 400,000 elements (3.2 MB inflated, under the cap) are 0xC000, /healthz answers throughout', async () => {
    const [good, deep, wide] = phantomSeries(chestPhantom({ size: 32, slices: 3 }), { seed: 'hostile-nesting' });
    const prefixed = (s: Buffer, extra: Buffer) => deflatedPart10(s, { dataset: Buffer.concat([extra, datasetOf(s)]) });
    const deepFile = prefixed(deep.bytes, nestedSequences(90_000));
    const wideFile = prefixed(wide.bytes, manyElements(400_000));
    expect(deepFile.length + wideFile.length).toBeLessThan(200 * 1024);
    let polling = true;
    const probes: number[] = [];
    const poller = (async () => {
      while (polling) {
        const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(30_000) });
        probes.push(res.status);
        await res.arrayBuffer();
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const t0 = performance.now();
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody([deepFile, good.bytes, wideFile]));
    const elapsed = performance.now() - t0;
    polling = false;
    await poller;
    expect(status).toBe(202);
    expect(seqItems(json, '00081199').map((i) => val(i, '00081155'))).toEqual([good.sopInstanceUid]);
    expect(seqItems(json, '00081198').map((i) => val(i, '00081197'))).toEqual([DicomReason.CannotUnderstand, DicomReason.CannotUnderstand]);
    expect(probes.length).toBeGreaterThan(0);
    expect(probes.every((p) => p === 200)).toBe(true);
    process.stdout.write(`nesting attack refused in ${Math.round(elapsed)} ms; ${probes.length} /healthz probes, all 200\n`);
  });

  test(`20,000 one-byte parts: the first ${MAX_PARTS} are answered, the rest refused with 0xA700 unread; the good instances stored (202)`, async () => {
    const [a, b] = phantomSeries(chestPhantom({ size: 32, slices: 2 }), { seed: 'hostile-parts' });
    const tiny = Array.from({ length: 20_000 }, () => Buffer.from('x'));
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody([a.bytes, b.bytes, ...tiny]));
    expect(status).toBe(202);
    expect(seqItems(json, '00081199').map((i) => val(i, '00081155'))).toEqual([a.sopInstanceUid, b.sopInstanceUid]);
    const reasons = seqItems(json, '00081198').map((i) => val(i, '00081197'));
    expect(reasons).toEqual([...Array(MAX_PARTS - 2).fill(DicomReason.CannotUnderstand), DicomReason.OutOfResources]);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  test('a gzip-encoded body is 415 (unsupported content coding), not 400', async () => {
    const [slice] = phantomSeries(chestPhantom({ size: 32, slices: 1 }), { seed: 'hostile-gzip' });
    const { status } = await postStow(`${base}/dicom-web/studies`, gzipSync(multipartBody([slice.bytes])), { 'Content-Encoding': 'gzip' });
    expect(status).toBe(415);
    const rows = (await gw.db.dataSource.query(`SELECT 1 FROM instance WHERE sop_instance_uid = $1`, [slice.sopInstanceUid])) as unknown[];
    expect(rows).toHaveLength(0);
  });

  test('refusals name the SOP Instance UID where the header tells it; a Japanese (ISO 2022 IR 87) instance is stored', async () => {
    const [truncated, mismatched] = phantomSeries(chestPhantom({ size: 32, slices: 2 }), { seed: 'hostile-named' });
    const cut = truncated.bytes.subarray(0, truncated.bytes.length - 100); // inside its pixel data
    // The same length as the real UID, so nothing else moves.
    const other = mismatched.sopInstanceUid.slice(0, -1) + (mismatched.sopInstanceUid.endsWith('1') ? '2' : '1');
    const relabelled = Buffer.from(mismatched.bytes);
    relabelled.write(other, relabelled.indexOf(mismatched.sopInstanceUid, 0, 'latin1'), 'latin1'); // the meta header's copy
    const [japanese] = seriesWithName(['', 'ISO 2022 IR 87'], JAPANESE_NAME, { seed: 'hostile-japanese' });
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody([cut, relabelled, japanese.bytes]));
    expect(status).toBe(202);
    expect(seqItems(json, '00081199').map((i) => val(i, '00081155'))).toEqual([japanese.sopInstanceUid]);
    expect(seqItems(json, '00081198').map((i) => [val(i, '00081155'), val(i, '00081197')])).toEqual([
      [truncated.sopInstanceUid, DicomReason.CannotUnderstand],
      [mismatched.sopInstanceUid, DicomReason.DataSetDoesNotMatchSopClass],
    ]);
  });
});
