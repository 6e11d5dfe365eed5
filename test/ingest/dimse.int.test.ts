/**
 * DIMSE in and out with real peers (issue 16, item 1): dcmtk's echoscu and storescu and a real Orthanc send to the
 * gateway's C-STORE SCP; each study is analysed as a STOW-RS one is, and its results go back into Orthanc by C-STORE
 * (LT_RESULTS_DIMSE). A real gateway, worker and PostgreSQL throughout.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { verifyAuditChain } from '../../src/audit/audit-log';
import { freePort, type Database } from '../../src/db/database';
import { readPart10, SopClass, TransferSyntax, writePart10, type NaturalDataset } from '../../src/dicom/dcmjs';
import { DimseTarget } from '../../src/egress';
import type { Gateway } from '../../src/gateway';
import { startDimseListener } from '../../src/ingest/dimse';
import { InstanceRecorder } from '../../src/ingest/instance-store';
import { chestPhantom, phantomSeries, writePhantomSeries } from '../../src/synthetic/phantom';
import { testDatabase } from '../support/db';
import { testGateway } from '../support/gateway';
import { CliProcess } from '../support/process';
import { TestOrthanc } from '../support/orthanc';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

/** Runs a dcmtk tool; resolves with its exit code and everything it printed. */
function dcmtk(tool: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

const studyUidOf = (file: Buffer) => readPart10(file).dataset.StudyInstanceUID as string;

describe('DIMSE: C-ECHO and C-STORE in, C-STORE results out (dcmtk, Orthanc, real gateway)', () => {
  let gw: Gateway;
  let cleanup: () => Promise<void>;
  let orthanc: TestOrthanc;
  let dimsePort: number;
  let dir: string;
  const scu = (aet: string, extra: string[] = []) => ['-aet', aet, '-aec', 'LUNG_TRIAGE', ...extra, '127.0.0.1', String(dimsePort)];

  beforeAll(async () => {
    dimsePort = await freePort();
    orthanc = await new TestOrthanc({ modalities: { ai: ['LUNG_TRIAGE', '127.0.0.1', dimsePort] } }).start();
    ({ gw, cleanup } = await testGateway({
      LT_DIMSE_PORT: String(dimsePort),
      LT_DIMSE_ALLOWED_AES: 'STORESCU,ECHOSCU,ORTHANC',
      LT_RESULTS_DIMSE: `ORTHANC@127.0.0.1:${orthanc.dicomPort}`,
      LT_EARLY_INFERENCE: 'false',
      LT_POLL_MS: '200',
      // 256 KiB: a 96 x 96 phantom slice fits, a 512 x 512 one (0.5 MiB) gets 0xA700.
      LT_MAX_INSTANCE_BYTES: String(256 * 1024),
    }));
    dir = tempDir('dimse');
  });
  afterAll(async () => {
    await cleanup?.();
    await orthanc?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const query = <T>(sql: string, params: unknown[]) => gw.db.dataSource.query(sql, params) as Promise<T[]>;
  const instances = (studyUid: string) => query<{ transfer_syntax_uid: string }>(`SELECT transfer_syntax_uid FROM instance WHERE study_uid = $1`, [studyUid]);
  const delivered = (studyUid: string) =>
    until(
      'the job to be delivered',
      async () => {
        await gw.tick();
        const [row] = await query<{ state: string; result: unknown }>(`SELECT state, result FROM job WHERE study_uid = $1 ORDER BY id DESC LIMIT 1`, [studyUid]);
        if (row?.state === 'failed') throw new Error(`job failed: ${JSON.stringify(row.result)}`);
        return row?.state === 'delivered' ? row : undefined;
      },
      180_000,
    );
  /** The modalities of the study's series in Orthanc: the source CT plus what the gateway stored there by C-STORE. */
  const orthancModalities = async (studyUid: string) => {
    const series = await orthanc.rest<{ MainDicomTags: { Modality: string } }[]>('GET', `/studies/${await orthanc.studyId(studyUid)}/series`);
    return series.map((s) => s.MainDicomTags.Modality).sort();
  };

  test('C-ECHO answers the configured AE title; a wrong called AE or a calling AE off the list is rejected and audited', async () => {
    expect((await dcmtk('echoscu', scu('ECHOSCU'))).code).toBe(0);
    const wrongCalled = await dcmtk('echoscu', ['-aet', 'ECHOSCU', '-aec', 'SOMEONE_ELSE', '127.0.0.1', String(dimsePort)]);
    expect(wrongCalled.code).not.toBe(0);
    expect(wrongCalled.out).toMatch(/Called AE Title Not Recognized/i);
    const intruder = await dcmtk('echoscu', scu('INTRUDER'));
    expect(intruder.code).not.toBe(0);
    expect(intruder.out).toMatch(/Calling AE Title Not Recognized/i);
    const audited = await query<{ actor: string }>(`SELECT actor FROM audit_log WHERE action = 'dimse.rejected' ORDER BY id`, []);
    expect(audited.map((a) => a.actor)).toEqual(['ECHOSCU@127.0.0.1', 'INTRUDER@127.0.0.1']);
  });

  test('a host off the allow-list is rejected (no reason given, permanent)', async () => {
    const listener = await startDimseListener(
      { dataSource: gw.db.dataSource, spool: gw.spool, recorder: new InstanceRecorder(gw.db.dataSource), aeTitle: 'LUNG_TRIAGE', allowedAes: [], allowedHosts: ['192.0.2.1'], maxInstanceBytes: 1 << 20 },
      { host: '127.0.0.1', port: 0 },
    );
    try {
      const refused = await dcmtk('echoscu', ['-aet', 'ECHOSCU', '-aec', 'LUNG_TRIAGE', '127.0.0.1', String(listener.port)]);
      expect(refused.code).not.toBe(0);
      expect(refused.out).toMatch(/Association Rejected[\s\S]*Permanent[\s\S]*No Reason/i);
    } finally {
      await listener.close();
    }
  });

  test('storescu sends a study in four transfer syntaxes (JPEG lossless and RLE among them): stored as sent, analysed, results in Orthanc by C-STORE', async () => {
    const vol = chestPhantom({ size: 96, slices: 24, seed: 'dimse-storescu' });
    const files = writePhantomSeries(path.join(dir, 'study'), vol, { seed: 'dimse-storescu' });
    const groups: { files: string[]; option: string[]; ts: string }[] = [
      { files: files.slice(0, 6), option: [], ts: TransferSyntax.ExplicitLittle },
      { files: files.slice(6, 12), option: ['-xi'], ts: TransferSyntax.ImplicitLittle },
      { files: files.slice(12, 18), option: ['-xs'], ts: TransferSyntax.JpegLosslessSV1 },
      { files: files.slice(18), option: ['-xr'], ts: TransferSyntax.Rle },
    ];
    for (const f of groups[1].files) expect((await dcmtk('dcmconv', ['+ti', f, f])).code).toBe(0);
    for (const f of groups[2].files) expect((await dcmtk('dcmcjpeg', [f, f])).code).toBe(0);
    for (const f of groups[3].files) expect((await dcmtk('dcmcrle', [f, f])).code).toBe(0);
    for (const g of groups) {
      const sent = await dcmtk('storescu', [...scu('STORESCU', g.option), ...g.files]);
      expect({ code: sent.code, out: sent.out }).toMatchObject({ code: 0 });
    }
    const studyUid = studyUidOf(readFileSync(files[0]));
    const stored = await instances(studyUid);
    expect(stored).toHaveLength(24);
    expect(new Set(stored.map((s) => s.transfer_syntax_uid))).toEqual(new Set(groups.map((g) => g.ts)));
    const actors = await query<{ actor: string; n: number }>(`SELECT actor, count(*)::int AS n FROM audit_log WHERE study_uid = $1 AND action = 'instance.stored' GROUP BY actor`, [studyUid]);
    expect(actors).toEqual([{ actor: 'STORESCU@127.0.0.1', n: 24 }]);
    await delivered(studyUid);
    expect(await orthancModalities(studyUid)).toContain('SR');
  });

  test('bad data sets get their PS3.4 status (0xC000, 0xA900, 0xA700 over the size cap) and the listener keeps serving', async () => {
    const [good] = phantomSeries(chestPhantom({ size: 16, slices: 1 }), { seed: 'dimse-bad' });
    const dataset = readPart10(good.bytes).dataset;
    // 40 nested sequences: beyond the structure guard's depth of 32, which every path applies.
    let nested: NaturalDataset = { ReferencedSOPInstanceUID: '1.2.3' };
    for (let i = 0; i < 40; i++) nested = { ReferencedImageSequence: [nested] };
    const deep = path.join(dir, 'deep.dcm');
    writeFileSync(deep, writePart10({ ...dataset, ...nested }));
    const noSeries = path.join(dir, 'no-series.dcm');
    const { SeriesInstanceUID: _dropped, ...withoutSeries } = dataset;
    writeFileSync(noSeries, writePart10({ ...withoutSeries, SOPInstanceUID: `${dataset.SOPInstanceUID as string}.9` }));
    const deepSent = await dcmtk('storescu', [...scu('STORESCU', ['-v']), deep]);
    expect(deepSent.out).toMatch(/Received Store Response \(Error: CannotUnderstand\)/);
    const noSeriesSent = await dcmtk('storescu', [...scu('STORESCU', ['-v']), noSeries]);
    expect(noSeriesSent.out).toMatch(/Received Store Response \(Error: DataSetDoesNotMatchSOPClass\)/i);
    const big = path.join(dir, 'big.dcm');
    writeFileSync(big, phantomSeries(chestPhantom({ size: 512, slices: 1 }), { seed: 'dimse-bad-big' })[0].bytes);
    const bigSent = await dcmtk('storescu', [...scu('STORESCU', ['-v']), big]);
    expect(bigSent.out).toMatch(/Received Store Response \(Refused: OutOfResources\)/);
    const rejected = await query<{ detail: { reason: string } }>(`SELECT detail FROM audit_log WHERE action = 'instance.rejected' ORDER BY id`, []);
    expect(rejected.map((r) => r.detail.reason)).toEqual(['0xC000', '0xA900', '0xA700']);
    expect(await instances(studyUidOf(readFileSync(big)))).toHaveLength(0);
    expect(readdirSync(gw.spool.incomingDir)).toEqual([]);
    expect(await instances(dataset.StudyInstanceUID as string)).toHaveLength(0);
    expect((await dcmtk('echoscu', scu('ECHOSCU'))).code).toBe(0);
  });

  test('Orthanc sends a study by C-STORE (DicomModalities, /modalities/ai/store): analysed, results back in Orthanc by C-STORE', async () => {
    const series = phantomSeries(chestPhantom({ size: 96, slices: 24, seed: 'dimse-orthanc' }), { seed: 'dimse-orthanc' });
    const studyUid = studyUidOf(series[0].bytes);
    await orthanc.upload(series.map((s) => s.bytes));
    await orthanc.rest('POST', '/modalities/ai/store', { Resources: [await orthanc.studyId(studyUid)], Synchronous: true });
    expect(await instances(studyUid)).toHaveLength(24);
    const actors = await query<{ actor: string }>(`SELECT DISTINCT actor FROM audit_log WHERE study_uid = $1 AND action = 'instance.stored'`, [studyUid]);
    expect(actors).toEqual([{ actor: 'ORTHANC@127.0.0.1' }]);
    await delivered(studyUid);
    expect(await orthancModalities(studyUid)).toContain('SR');
  });

  test('the C-STORE SCU target: per-instance outcomes from a real SCP, retry when nobody answers', async () => {
    const [ct] = phantomSeries(chestPhantom({ size: 16, slices: 1 }), { seed: 'dimse-scu' });
    const [sc] = phantomSeries(chestPhantom({ size: 16, slices: 1 }), { seed: 'dimse-scu-sc', extra: { SOPClassUID: SopClass.SecondaryCapture, ConversionType: 'WSD' } });
    const out = [ct, sc].map((i) => ({ sopInstanceUid: i.sopInstanceUid, sopClassUid: readPart10(i.bytes).dataset.SOPClassUID as string, bytes: i.bytes }));
    // Our own listener as the destination: it takes CT and refuses the Secondary Capture's presentation context.
    const target = new DimseTarget({ aeTitle: 'LUNG_TRIAGE', host: '127.0.0.1', port: dimsePort, callingAeTitle: 'STORESCU' });
    const result = await target.store(studyUidOf(ct.bytes), out);
    expect(result.outcomes.map((o) => o.result)).toEqual(['stored', 'failed']);
    expect(await instances(studyUidOf(ct.bytes))).toHaveLength(1);
    const nobody = new DimseTarget({ aeTitle: 'LUNG_TRIAGE', host: '127.0.0.1', port: await freePort(), callingAeTitle: 'STORESCU' });
    expect((await nobody.store(studyUidOf(ct.bytes), out)).outcomes.map((o) => o.result)).toEqual(['retry', 'retry']);
    const refused = new DimseTarget({ aeTitle: 'LUNG_TRIAGE', host: '127.0.0.1', port: dimsePort, callingAeTitle: 'INTRUDER' });
    const refusedResult = await refused.store(studyUidOf(ct.bytes), out);
    expect(refusedResult.outcomes.map((o) => o.result)).toEqual(['retry', 'retry']);
    expect(refusedResult.error).toMatch(/association rejected/);
  });

  test('the audit chain verifies after all of it', async () => {
    expect((await verifyAuditChain(gw.db.dataSource)).ok).toBe(true);
  });
});

describe('kill -9 of the gateway in the middle of a DIMSE association', () => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let dimsePort: number;
  let dir: string;
  beforeAll(async () => {
    const t = await testDatabase();
    ({ cleanup, db } = t);
    dimsePort = await freePort();
    const httpPort = await freePort();
    env = { LT_DATABASE_URL: t.url, LT_DATA_DIR: t.dataDir, LT_HTTP_PORT: String(httpPort), LT_GRPC_PORT: '0', LT_DIMSE_PORT: String(dimsePort), LT_STABLE_SECONDS: '3600', LT_LOG_LEVEL: 'warn' };
    dir = tempDir('dimse-crash');
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every instance storescu saw acknowledged is recorded and intact after restart; a re-send completes the study once', async () => {
    const files = writePhantomSeries(dir, chestPhantom({ size: 256, slices: 80 }), { seed: 'dimse-crash' });
    const studyUid = studyUidOf(readFileSync(files[0]));
    const httpBase = `http://127.0.0.1:${env.LT_HTTP_PORT}`;
    let gw = new CliProcess(['gateway'], env).start();
    await gw.waitForHttp(`${httpBase}/healthz`);
    const args = ['-v', '-aet', 'STORESCU', '-aec', 'LUNG_TRIAGE', '127.0.0.1', String(dimsePort), ...files];
    const sending = dcmtk('storescu', args);
    const recorded = async () => ((await db.dataSource.query(`SELECT count(*)::int AS n FROM instance WHERE study_uid = $1`, [studyUid])) as { n: number }[])[0].n;
    while ((await recorded()) < 10) await new Promise((r) => setTimeout(r, 10));
    await gw.kill9();
    const { out } = await sending;
    // storescu -v prints "Sending file: F" then, when answered, "Received Store Response (Success)".
    const acknowledged = [...out.matchAll(/Sending file: (\S+)\n(?:.*\n)*?I: Received Store Response \(Success\)/g)].map((m) => m[1]);
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(acknowledged.length).toBeLessThan(files.length); // the plug was pulled mid-association

    gw = new CliProcess(['gateway'], env).start();
    await gw.waitForHttp(`${httpBase}/healthz`);
    try {
      const rows = (await db.dataSource.query(`SELECT sop_instance_uid, spool_path, sha256 FROM instance WHERE study_uid = $1`, [studyUid])) as { sop_instance_uid: string; spool_path: string; sha256: string }[];
      const byUid = new Map(rows.map((r) => [r.sop_instance_uid, r]));
      for (const f of acknowledged) {
        const row = byUid.get(readPart10(readFileSync(f)).dataset.SOPInstanceUID as string);
        expect(row).toBeDefined();
        expect(createHash('sha256').update(readFileSync(row!.spool_path)).digest('hex')).toBe(row!.sha256);
      }
      expect(readdirSync(path.join(env.LT_DATA_DIR, 'spool', '.incoming'))).toEqual([]);
      // The PACS sends the study again: everything stored once.
      const again = await dcmtk('storescu', args);
      expect({ code: again.code, failed: /Error|Failed/.test(again.out) }).toEqual({ code: 0, failed: false });
      expect(await recorded()).toBe(files.length);
      expect((await verifyAuditChain(db.dataSource)).ok).toBe(true);
    } finally {
      expect(await gw.stop()).toBe(0);
    }
  });
});
