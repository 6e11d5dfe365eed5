import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Database } from '../../src/db/database';
import { readPart10 } from '../../src/dicom/dcmjs';
import type { PacsConfig } from '../../src/dicom/pacs-auth';
import { InstanceRecorder } from '../../src/ingest/instance-store';
import { Puller, requestPull, type PullDeps } from '../../src/ingest/pull';
import { Spool } from '../../src/ingest/spool';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { makeCertificates } from '../support/certificates';
import { testDatabase } from '../support/db';
import { TestOrthanc } from '../support/orthanc';
import { tempDir } from '../support/temp-dir';

/**
 * Pull goes through the one DICOMweb wrapper: against a PACS behind HTTPS with a private CA (a Node https reverse
 * proxy in front of a real Orthanc), it succeeds with LT_PACS_CA and fails clearly without it; a PACS that never
 * answers is given up after the time limit.
 */
describe('pull from an HTTPS PACS with a private CA (real Orthanc, real PostgreSQL)', () => {
  let orthanc: TestOrthanc;
  let proxy: https.Server;
  let base: string;
  let tmp: string;
  let caFile: string;
  let db: Database;
  let dataDir: string;
  let cleanup: () => Promise<void>;
  let deps: Omit<PullDeps, 'pacs'>;
  const series = phantomSeries(chestPhantom({ size: 32, slices: 4 }), { seed: 'pull-tls' });
  const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;

  beforeAll(async () => {
    tmp = tempDir('pull-tls');
    const certs = makeCertificates(tmp);
    caFile = certs.caFile;
    orthanc = await new TestOrthanc().start();
    await orthanc.upload(series.map((s) => s.bytes));
    const target = new URL(orthanc.url);
    proxy = https.createServer({ key: readFileSync(certs.serverKey), cert: readFileSync(certs.serverCert) }, (req, res) => {
      // /hang/...: accepts the request and never answers (a PACS that stopped responding).
      if (req.url?.startsWith('/hang/')) return;
      const upstream = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    ({ db, dataDir, cleanup } = await testDatabase());
    const spool = new Spool(path.join(dataDir, 'spool'));
    await spool.init();
    deps = { dataSource: db.dataSource, spool, recorder: new InstanceRecorder(db.dataSource) };
  });
  afterAll(async () => {
    proxy?.closeAllConnections();
    await new Promise((resolve) => proxy?.close(resolve));
    await orthanc?.destroy();
    await cleanup?.();
    rmSync(tmp, { recursive: true, force: true });
  });

  const pacs = (over: Partial<PacsConfig> = {}): PacsConfig => ({ url: `${base}/dicom-web`, auth: 'none', ...over });

  test('without LT_PACS_CA the untrusted certificate fails the pull clearly, and nothing is stored', async () => {
    await expect(requestPull({ ...deps, pacs: pacs() }, studyUid, 'test', 'submit')).rejects.toThrow(/PACS did not answer the instance query: no answer .*LT_PACS_CA/);
    expect(await db.dataSource.query(`SELECT 1 FROM instance WHERE study_uid = $1`, [studyUid])).toHaveLength(0);
  });

  test('with LT_PACS_CA every instance is retrieved over HTTPS and the job opens', async () => {
    const withCa = { ...deps, pacs: pacs({ caFile }) };
    expect(await requestPull(withCa, studyUid, 'test', 'submit')).toEqual({ expected: series.length });
    const { result: r } = await new Puller({ ...withCa, leaseSeconds: 60 }).runOnce();
    expect(r).toMatchObject({ retrieved: series.length, failed: [] });
    const stored = (await db.dataSource.query(`SELECT sop_instance_uid FROM instance WHERE study_uid = $1 ORDER BY sop_instance_uid`, [studyUid])) as { sop_instance_uid: string }[];
    expect(stored.map((s) => s.sop_instance_uid)).toEqual(series.map((s) => s.sopInstanceUid).sort());
    expect(await db.dataSource.query(`SELECT state FROM job WHERE id = $1`, [r!.jobId])).toEqual([{ state: 'ready' }]);
  });

  test('a PACS that never answers is given up after the request time limit', async () => {
    const t0 = Date.now();
    await expect(requestPull({ ...deps, pacs: pacs({ url: `${base}/hang/dicom-web`, caFile }), timeoutMs: 500 }, studyUid, 'test', 'submit')).rejects.toThrow(/timed out after 500 ms/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});
