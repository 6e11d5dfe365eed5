import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readPart10 } from '../../src/dicom/dcmjs';
import { verifyAuditChain } from '../../src/audit/audit-log';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import type { Gateway } from '../../src/gateway';
import { testGateway } from '../support/gateway';
import { TestOrthanc } from '../support/orthanc';
import { until } from '../support/wait';
import { describeWithSharedData, sharedData } from '../support/shared-data';

// eslint-disable-next-line @typescript-eslint/no-require-imports
(globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = require('xhr2');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { api } = require('dicomweb-client') as { api: { DICOMwebClient: new (o: { url: string }) => { storeInstances(o: { datasets: ArrayBuffer[] }): Promise<unknown> } } };

const uidOf = (b: Buffer) => readPart10(b).dataset.StudyInstanceUID as string;


describe('ingest from a real Orthanc (Debian package) as the PACS', () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  let orthanc: TestOrthanc;
  beforeAll(async () => {
    ({ gw, url: base, cleanup } = await testGateway());
    orthanc = await new TestOrthanc({ aiUrl: `${base}/dicom-web/`, autoroute: true, stableAge: 2 }).start();
  });
  afterAll(async () => {
    await orthanc?.destroy();
    await cleanup();
  });
  const count = async (studyUid: string) =>
    Number(((await gw.db.dataSource.query(`SELECT count(*)::int AS n FROM instance WHERE study_uid = $1`, [studyUid])) as { n: number }[])[0].n);

  test('Orthanc pushes a study with /dicom-web/servers/ai/stow and its job succeeds', async () => {
    const s = phantomSeries(chestPhantom({ size: 64, slices: 12 }), { seed: 'orthanc-push' });
    // Upload without auto-routing interfering: this study is pushed by hand, then checked.
    await orthanc.upload(s.map((x) => x.bytes));
    const id = await orthanc.studyId(uidOf(s[0].bytes));
    const job = await orthanc.rest<{ ID: string }>('POST', '/dicom-web/servers/ai/stow', { Resources: [id], Synchronous: false });
    const state = await until('the Orthanc job', async () => {
      const j = await orthanc.rest<{ State: string }>('GET', `/jobs/${job.ID}`);
      return j.State === 'Success' || j.State === 'Failure' ? j.State : undefined;
    });
    if (state !== 'Success') throw new Error(JSON.stringify(await orthanc.rest('GET', `/jobs/${job.ID}`)) + orthanc.logs.slice(-3000));
    expect(await count(uidOf(s[0].bytes))).toBe(12);
  });

  test('Orthanc auto-routes a stable study (Lua, loop-guarded): sent once, not re-sent for non-CT additions', async () => {
    const s = phantomSeries(chestPhantom({ size: 64, slices: 8 }), { seed: 'orthanc-autoroute' });
    const uid = uidOf(s[0].bytes);
    await orthanc.upload(s.map((x) => x.bytes));
    await until('auto-routed instances', async () => ((await count(uid)) === 8 ? true : undefined), 40000);
    const id = await orthanc.studyId(uid);
    expect(await orthanc.rest<string>('GET', `/studies/${id}/metadata/ForwardedToAI`)).toBe(8);
    const audited = async () =>
      Number(((await gw.db.dataSource.query(`SELECT count(*)::int AS n FROM audit_log WHERE study_uid = $1 AND action LIKE 'instance.%'`, [uid])) as { n: number }[])[0].n);
    const before = await audited();
    // Adding a non-CT object (as our SR will be) makes the study unstable again; the guard must not re-send.
    const [extra] = phantomSeries(chestPhantom({ size: 16, slices: 1 }), { seed: 'orthanc-autoroute', seriesNumber: 99, extra: { Modality: 'OT', SOPClassUID: '1.2.840.10008.5.1.4.1.1.7', ConversionType: 'WSD' } });
    await orthanc.upload([extra.bytes]);
    await new Promise((r) => setTimeout(r, 5000));
    expect(await audited()).toBe(before);
  });

  test("dicomweb-client's storeInstances stores into the gateway", async () => {
    const s = phantomSeries(chestPhantom({ size: 32, slices: 3 }), { seed: 'dicomweb-client' });
    const client = new api.DICOMwebClient({ url: `${base}/dicom-web` });
    await client.storeInstances({ datasets: s.map((x) => x.bytes.buffer.slice(x.bytes.byteOffset, x.bytes.byteOffset + x.bytes.byteLength) as ArrayBuffer) });
    expect(await count(uidOf(s[0].bytes))).toBe(3);
  });

  test('the audit chain verifies after all of it', async () => {
    expect((await verifyAuditChain(gw.db.dataSource)).ok).toBe(true);
  });
});

describeWithSharedData('thorax-ct-dicom/series', 'the real thorax CT series through Orthanc', () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  let orthanc: TestOrthanc;
  beforeAll(async () => {
    ({ gw, url: base, cleanup } = await testGateway());
    orthanc = await new TestOrthanc({ aiUrl: `${base}/dicom-web/` }).start();
  });
  afterAll(async () => {
    await orthanc?.destroy();
    await cleanup();
  });

  test('all 141 slices pushed by Orthanc are stored byte for byte', async () => {
    const dir = sharedData('thorax-ct-dicom/series');
    const files = readdirSync(dir).filter((f) => f.endsWith('.dcm')).map((f) => readFileSync(path.join(dir, f)));
    await orthanc.upload(files);
    const uid = uidOf(files[0]);
    const job = await orthanc.rest<{ ID: string }>('POST', '/dicom-web/servers/ai/stow', { Resources: [await orthanc.studyId(uid)], Synchronous: false });
    const state = await until('the Orthanc job', async () => {
      const j = await orthanc.rest<{ State: string }>('GET', `/jobs/${job.ID}`);
      return j.State === 'Success' || j.State === 'Failure' ? j.State : undefined;
    }, 120000);
    expect(state).toBe('Success');
    const rows = (await gw.db.dataSource.query(`SELECT spool_path FROM instance WHERE study_uid = $1`, [uid])) as { spool_path: string }[];
    expect(rows).toHaveLength(files.length);
    // Orthanc may re-encode the meta header, but the data set (pixels included) must be intact.
    const sent = new Set(files.map((f) => (readPart10(f).dataset.SOPInstanceUID as string)));
    for (const r of rows) expect(sent.has(readPart10(readFileSync(r.spool_path)).dataset.SOPInstanceUID as string)).toBe(true);
  });
});
