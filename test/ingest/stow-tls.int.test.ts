import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { makeCertificates, type TestCertificates } from '../support/certificates';
import { readPart10 } from '../../src/dicom/dcmjs';
import { testGateway } from '../support/gateway';
import { TestOrthanc } from '../support/orthanc';
import { multipartBody, multipartType, seqItems } from '../support/stow';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

type Answer = { status: number; body: string };

/** One request over http or https (node's own client: fetch cannot be given a CA or a client certificate). */
function request(url: string, opts: https.RequestOptions & { body?: Buffer } = {}): Promise<Answer> {
  const { body, ...options } = opts;
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? https : http).request(url, { agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * HTTPS on the DICOMweb listener (LT_HTTP_TLS_*): a PACS stores over TLS with the gateway's certificate checked
 * against a private CA; the same port refuses plain HTTP; with a client CA and LT_HTTP_TLS_REQUIRE_CLIENT_CERT only
 * a client holding a certificate that CA signed connects (mTLS). Real gateway, real PostgreSQL, openssl certificates.
 */
describe('DICOMweb over HTTPS (real gateway, real PostgreSQL)', () => {
  let tmp: string;
  let certs: TestCertificates;
  let ca: Buffer;
  const series = phantomSeries(chestPhantom({ size: 32, slices: 2 }), { seed: 'stow-tls' });
  const stow = (extra: https.RequestOptions = {}) => ({
    method: 'POST',
    headers: { 'Content-Type': multipartType(), Accept: 'application/dicom+json' },
    body: multipartBody(series.map((s) => s.bytes)),
    ca,
    ...extra,
  });

  beforeAll(() => {
    tmp = tempDir('stow-tls');
    certs = makeCertificates(tmp);
    ca = readFileSync(certs.caFile);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test('with a certificate and key a STOW over HTTPS is stored and answered with https RetrieveURLs; plain HTTP on that port gets no answer', async () => {
    const { gw, cleanup } = await testGateway({ LT_HTTP_TLS_CERT: certs.serverCert, LT_HTTP_TLS_KEY: certs.serverKey });
    try {
      const base = `https://127.0.0.1:${gw.httpPort}`;
      const res = await request(`${base}/dicom-web/studies`, stow());
      expect(res.status).toBe(200);
      const referenced = seqItems(JSON.parse(res.body), '00081199');
      expect(referenced).toHaveLength(series.length);
      for (const item of referenced) expect(item['00081190']?.Value?.[0]).toMatch(new RegExp(`^${base}/dicom-web/studies/`));
      const stored = (await gw.db.dataSource.query(`SELECT sop_instance_uid FROM instance ORDER BY 1`)) as { sop_instance_uid: string }[];
      expect(stored.map((r) => r.sop_instance_uid)).toEqual(series.map((s) => s.sopInstanceUid).sort());
      expect((await request(`${base}/healthz`, { ca })).status).toBe(200);
      // The gateway's certificate is checked: a client without the CA refuses it.
      await expect(request(`${base}/healthz`)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
      await expect(request(`http://127.0.0.1:${gw.httpPort}/healthz`)).rejects.toThrow();
    } finally {
      await cleanup();
    }
  });

  test('with LT_HTTP_TLS_REQUIRE_CLIENT_CERT only a client with a certificate from LT_HTTP_TLS_CA connects', async () => {
    const { gw, cleanup } = await testGateway({
      LT_HTTP_TLS_CERT: certs.serverCert,
      LT_HTTP_TLS_KEY: certs.serverKey,
      LT_HTTP_TLS_CA: certs.caFile,
      LT_HTTP_TLS_REQUIRE_CLIENT_CERT: 'true',
    });
    try {
      const base = `https://127.0.0.1:${gw.httpPort}`;
      await expect(request(`${base}/healthz`, { ca })).rejects.toThrow();
      // A certificate the CA did not sign is refused as well.
      await expect(request(`${base}/healthz`, { ca, cert: readFileSync(certs.strangerCert), key: readFileSync(certs.strangerKey) })).rejects.toThrow();
      const res = await request(`${base}/dicom-web/studies`, stow({ cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) }));
      expect(res.status).toBe(200);
      expect(await gw.db.dataSource.query(`SELECT count(*)::int AS n FROM instance`)).toEqual([{ n: series.length }]);
    } finally {
      await cleanup();
    }
  });

  test('a real Orthanc pushes a study over HTTPS (its DicomWeb server entry, trusting the CA with HttpsCACertificates)', async () => {
    const { gw, cleanup } = await testGateway({ LT_HTTP_TLS_CERT: certs.serverCert, LT_HTTP_TLS_KEY: certs.serverKey });
    const orthanc = await new TestOrthanc({ aiUrl: `https://127.0.0.1:${gw.httpPort}/dicom-web/`, httpsCaCertificates: certs.caFile }).start();
    try {
      const pushed = phantomSeries(chestPhantom({ size: 32, slices: 3 }), { seed: 'stow-tls-orthanc' });
      const studyUid = readPart10(pushed[0].bytes).dataset.StudyInstanceUID as string;
      await orthanc.upload(pushed.map((s) => s.bytes));
      const job = await orthanc.rest<{ ID: string }>('POST', '/dicom-web/servers/ai/stow', { Resources: [await orthanc.studyId(studyUid)], Synchronous: false });
      const state = await until('the Orthanc job', async () => {
        const j = await orthanc.rest<{ State: string }>('GET', `/jobs/${job.ID}`);
        return j.State === 'Success' || j.State === 'Failure' ? j.State : undefined;
      });
      expect({ state, logs: state === 'Success' ? '' : orthanc.logs.slice(-2000) }).toEqual({ state: 'Success', logs: '' });
      expect(await gw.db.dataSource.query(`SELECT count(*)::int AS n FROM instance WHERE study_uid = $1`, [studyUid])).toEqual([{ n: pushed.length }]);
    } finally {
      await orthanc.destroy();
      await cleanup();
    }
  });
});
