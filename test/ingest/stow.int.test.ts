import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { DicomReason } from '../../src/errors';
import { readAudit, verifyAuditChain } from '../../src/audit/audit-log';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { readPart10, writePart10 } from '../../src/dicom/dcmjs';
import { testGateway } from '../support/gateway';
import { multipartBody, multipartType, postStow, seqItems } from '../support/stow';
import type { Gateway } from '../../src/gateway';

const series = phantomSeries(chestPhantom({ size: 64, slices: 6 }), { seed: 'stow-test' });
const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
const val = (item: Record<string, { Value?: unknown[] }>, tag: string) => item[tag]?.Value?.[0];

describe('STOW-RS listener (real gateway, real PostgreSQL)', () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ gw, url: base, cleanup } = await testGateway({ LT_MAX_BODY_BYTES: String(4 * 1024 * 1024), LT_MAX_INSTANCE_BYTES: String(1024 * 1024) }));
  });
  afterAll(() => cleanup());
  const q = <T = Record<string, unknown>>(sql: string, p: unknown[] = []) => gw.db.dataSource.query(sql, p) as Promise<T[]>;

  test('stores a series: 200, one ReferencedSOPSequence item per instance with RetrieveURL, fsynced files recorded', async () => {
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)));
    expect(status).toBe(200);
    const items = seqItems(json, '00081199');
    expect(items.map((i) => val(i, '00081155'))).toEqual(series.map((s) => s.sopInstanceUid));
    expect(String(val(items[0], '00081190'))).toMatch(new RegExp(`/dicom-web/studies/${studyUid}/series/[0-9.]+/instances/${series[0].sopInstanceUid}$`));
    expect(json['00081198']).toBeUndefined();
    const rows = await q<{ spool_path: string; sha256: string }>(`SELECT spool_path, sha256 FROM instance WHERE study_uid = $1`, [studyUid]);
    expect(rows).toHaveLength(series.length);
    for (const r of rows) expect(createHash('sha256').update(readFileSync(r.spool_path)).digest('hex')).toBe(r.sha256);
    const audited = await readAudit(gw.db.dataSource, { studyUid });
    expect(audited.filter((a) => a.action === 'instance.stored')).toHaveLength(series.length);
  });

  test('RetrieveURLs name the listener itself, never what the Host header says', async () => {
    const body = multipartBody([series[1].bytes]);
    const url = new URL(`${base}/dicom-web/studies`);
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { Host: 'attacker.example', 'Content-Type': multipartType(), 'Content-Length': body.length } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    const retrieve = String(val(seqItems(JSON.parse(answer), '00081199')[0], '00081190'));
    expect(retrieve.startsWith(`${base}/dicom-web/studies/`)).toBe(true);
    expect(retrieve).not.toContain('attacker.example');
  });

  test('the RetrieveURL serves the stored bytes back (WADO-RS)', async () => {
    const { json } = await postStow(`${base}/dicom-web/studies`, multipartBody([series[0].bytes]));
    const url = String(val(seqItems(json, '00081199')[0], '00081190'));
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/multipart\/related; type="application\/dicom"/);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.indexOf(series[0].bytes)).toBeGreaterThan(0);
  });

  test('the same instance again is idempotent: success, nothing stored twice', async () => {
    const { status, json } = await postStow(`${base}/dicom-web/studies/${studyUid}`, multipartBody(series.map((s) => s.bytes)));
    expect(status).toBe(200);
    expect(seqItems(json, '00081199')).toHaveLength(series.length);
    expect(await q(`SELECT 1 FROM instance WHERE study_uid = $1`, [studyUid])).toHaveLength(series.length);
  });

  test('same SOP Instance UID with different bytes: 202 with a warning, original kept, conflict recorded', async () => {
    const { dataset } = readPart10(series[1].bytes);
    dataset.SeriesDescription = 'changed';
    const before = (await q<{ sha256: string }>(`SELECT sha256 FROM instance WHERE sop_instance_uid = $1`, [series[1].sopInstanceUid]))[0];
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody([writePart10(dataset)]));
    expect(status).toBe(202);
    expect(val(seqItems(json, '00081199')[0], '00081196')).toBe(DicomReason.DuplicateDifferentContent);
    const after = (await q<{ sha256: string }>(`SELECT sha256 FROM instance WHERE sop_instance_uid = $1`, [series[1].sopInstanceUid]))[0];
    expect(after.sha256).toBe(before.sha256);
    expect(await q(`SELECT 1 FROM instance_conflict WHERE sop_instance_uid = $1`, [series[1].sopInstanceUid])).toHaveLength(1);
  });

  test('a SOP Instance UID already held by another study is refused (0x0111), never answered with a RetrieveURL that cannot serve it', async () => {
    const { dataset } = readPart10(series[2].bytes);
    dataset.StudyInstanceUID = `${studyUid}.9`;
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody([writePart10(dataset)]));
    expect(status).toBe(409);
    expect(seqItems(json, '00081199')).toHaveLength(0);
    const [failed] = seqItems(json, '00081198');
    expect(val(failed, '00081197')).toBe(DicomReason.DuplicateSopInstance);
    expect(await q(`SELECT study_uid FROM instance WHERE sop_instance_uid = $1`, [series[2].sopInstanceUid])).toEqual([{ study_uid: studyUid }]);
    expect(await q(`SELECT 1 FROM study WHERE study_uid = $1`, [`${studyUid}.9`])).toHaveLength(0);
    expect((await fetch(`${base}/dicom-web/studies/${studyUid}.9`)).status).toBe(404);
  });

  test('a mixed body: the good instances are stored, each bad part gets its FailureReason (202)', async () => {
    const fresh = phantomSeries(chestPhantom({ size: 32, slices: 2 }), { seed: 'mixed' });
    const truncated = fresh[1].bytes.subarray(0, fresh[1].bytes.length - 100);
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody([fresh[0].bytes, Buffer.from('not dicom'), truncated]));
    expect(status).toBe(202);
    expect(seqItems(json, '00081199').map((i) => val(i, '00081155'))).toEqual([fresh[0].sopInstanceUid]);
    expect(seqItems(json, '00081198').map((i) => val(i, '00081197'))).toEqual([DicomReason.CannotUnderstand, DicomReason.CannotUnderstand]);
    expect(await q(`SELECT 1 FROM instance WHERE sop_instance_uid = $1`, [fresh[1].sopInstanceUid])).toHaveLength(0);
  });

  test('nothing storable: 409 with every failure listed', async () => {
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody([Buffer.from('a'), Buffer.from('b')]));
    expect(status).toBe(409);
    expect(seqItems(json, '00081198')).toHaveLength(2);
  });

  test('study UID not matching the URL: 0xA901 per instance, nothing stored', async () => {
    const other = phantomSeries(chestPhantom({ size: 32, slices: 1 }), { seed: 'other-study' });
    const { status, json } = await postStow(`${base}/dicom-web/studies/${studyUid}`, multipartBody([other[0].bytes]));
    expect(status).toBe(409);
    expect(val(seqItems(json, '00081198')[0], '00081197')).toBe(DicomReason.StudyUidMismatch);
    expect(val(seqItems(json, '00081198')[0], '00081155')).toBe(other[0].sopInstanceUid);
  });

  test.each([
    ['no Content-Type: 415', {}, 415],
    ['application/dicom (single part): 415', { 'Content-Type': 'application/dicom' }, 415],
    ['multipart/related of JSON: 415', { 'Content-Type': 'multipart/related; type="application/dicom+json"; boundary=x' }, 415],
    ['no boundary: 400', { 'Content-Type': 'multipart/related; type="application/dicom"' }, 400],
  ])('%s', async (_n, headers, expected) => {
    const res = await fetch(`${base}/dicom-web/studies`, { method: 'POST', headers: headers as Record<string, string>, body: series[0].bytes });
    expect(res.status).toBe(expected);
    expect(((await res.json()) as { error: unknown }).error).toEqual(expect.any(String));
  });

  test.each(['1.2.abc', '..%2F..%2Fetc', '1.' + '2'.repeat(70)])('an invalid study UID in the URL (%s) is 400', async (uid) => {
    const { status } = await postStow(`${base}/dicom-web/studies/${uid}`, multipartBody([series[0].bytes]));
    expect(status).toBe(400);
  });

  test('a body without any boundary is 400; a body cut before its closing boundary keeps what was complete', async () => {
    expect((await postStow(`${base}/dicom-web/studies`, Buffer.from('garbage without parts'))).status).toBe(400);
    const fresh = phantomSeries(chestPhantom({ size: 32, slices: 2 }), { seed: 'cut' });
    const body = multipartBody(fresh.map((s) => s.bytes));
    const cut = body.subarray(0, body.length - 2000);
    const { status, json } = await postStow(`${base}/dicom-web/studies`, cut);
    expect(status).toBe(202);
    expect(seqItems(json, '00081199').map((i) => val(i, '00081155'))).toEqual([fresh[0].sopInstanceUid]);
    expect(await q(`SELECT 1 FROM instance WHERE sop_instance_uid = $1`, [fresh[1].sopInstanceUid])).toHaveLength(0);
  });

  test('over the body limit: 413 (declared length refused up front; chunked bodies cut off)', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 1);
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody([big]))).status).toBe(413);
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(multipartBody([big]));
        c.close();
      },
    });
    const res = await fetch(`${base}/dicom-web/studies`, { method: 'POST', headers: { 'Content-Type': multipartType() }, body: stream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
  });

  test('an instance over the per-instance limit fails with 0xA700 while its neighbours are stored', async () => {
    const fresh = phantomSeries(chestPhantom({ size: 32, slices: 1 }), { seed: 'neighbour' });
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody([Buffer.alloc(1024 * 1024 + 10), fresh[0].bytes]));
    expect(status).toBe(202);
    expect(val(seqItems(json, '00081198')[0], '00081197')).toBe(DicomReason.OutOfResources);
    expect(seqItems(json, '00081199')).toHaveLength(1);
  });

  test('an instance over the limit alone is a permanent 409, not a 503 that would make the sender retry forever', async () => {
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody([Buffer.alloc(1024 * 1024 + 10)]));
    expect(status).toBe(409);
    expect(val(seqItems(json, '00081198')[0], '00081197')).toBe(DicomReason.OutOfResources);
  });

  test('chunked transfer (no Content-Length), as Orthanc sends it, stores everything', async () => {
    const fresh = phantomSeries(chestPhantom({ size: 32, slices: 3 }), { seed: 'chunked' });
    const body = multipartBody(fresh.map((s) => s.bytes));
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < body.length; i += 1000) c.enqueue(body.subarray(i, i + 1000));
        c.close();
      },
    });
    const res = await fetch(`${base}/dicom-web/studies`, { method: 'POST', headers: { 'Content-Type': multipartType() }, body: stream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(200);
  });

  test('a study streaming slowly in one request is not taken as complete half-way: one job, with every instance', async () => {
    const s = phantomSeries(chestPhantom({ size: 32, slices: 3 }), { seed: 'slow-stream' });
    const uid = readPart10(s[0].bytes).dataset.StudyInstanceUID as string;
    const parts = s.map((x) => multipartBody([x.bytes]));
    // Each part arrives 2.5 s after the one before: more than twice the 1 s quiet period.
    const chunks = parts.map((p, i) => (i === parts.length - 1 ? p : p.subarray(0, p.length - Buffer.byteLength('--lt-test-boundary-7d3f--'))));
    const stream = new ReadableStream({
      async start(c) {
        for (const [i, chunk] of chunks.entries()) {
          if (i > 0) await new Promise((r) => setTimeout(r, 2500));
          c.enqueue(chunk);
        }
        c.close();
      },
    });
    const res = await fetch(`${base}/dicom-web/studies`, { method: 'POST', headers: { 'Content-Type': multipartType() }, body: stream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    await gw.tick();
    const jobs = await q<{ id: string }>(`SELECT id FROM job WHERE study_uid = $1`, [uid]);
    expect(jobs).toHaveLength(1);
    const ready = (await readAudit(gw.db.dataSource, { studyUid: uid })).filter((a) => a.action === 'study.ready');
    expect(ready.map((a) => a.detail.instances)).toEqual([3]);
  });

  test('a study becomes ready after the quiet period; a late instance reopens it and makes a new job', async () => {
    const s = phantomSeries(chestPhantom({ size: 32, slices: 3 }), { seed: 'completeness' });
    const uid = readPart10(s[0].bytes).dataset.StudyInstanceUID as string;
    await postStow(`${base}/dicom-web/studies`, multipartBody(s.slice(0, 2).map((x) => x.bytes)));
    await gw.tick();
    expect(await q(`SELECT state FROM study WHERE study_uid = $1`, [uid])).toEqual([{ state: 'receiving' }]);
    await new Promise((r) => setTimeout(r, 1200));
    await gw.tick();
    expect(await q(`SELECT state FROM study WHERE study_uid = $1`, [uid])).toEqual([{ state: 'ready' }]);
    // The pipeline takes the job at once (here it ends 'failed': 3 slices are too few), so count jobs, not states.
    expect(await q(`SELECT id FROM job WHERE study_uid = $1`, [uid])).toHaveLength(1);
    // A duplicate does not reopen; a new instance does.
    await postStow(`${base}/dicom-web/studies`, multipartBody([s[0].bytes]));
    await gw.tick();
    expect(await q(`SELECT state FROM study WHERE study_uid = $1`, [uid])).toEqual([{ state: 'ready' }]);
    await postStow(`${base}/dicom-web/studies`, multipartBody([s[2].bytes]));
    expect(await q(`SELECT state FROM study WHERE study_uid = $1`, [uid])).toEqual([{ state: 'receiving' }]);
    await new Promise((r) => setTimeout(r, 1200));
    await gw.tick();
    expect(await q(`SELECT id FROM job WHERE study_uid = $1`, [uid])).toHaveLength(2);
  });

  test('/healthz, /readyz and /metrics answer; metrics carry counts, no identifiers', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ database: true, spool: true });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/lt_instances_received_total\{outcome="stored"\} \d+/);
    expect(text).toMatch(/lt_instance_failures_total\{reason="0xC000"\} \d+/);
    expect(text).toMatch(/lt_bytes_received_total \d+/);
    expect(text).toMatch(/lt_studies_ready_total \d+/);
    expect(text).toMatch(/# TYPE lt_queue_depth gauge/);
    expect(text).toMatch(/lt_jobs_finished_total\{state="failed"\} \d+/);
    expect(text).not.toContain(studyUid);
    expect(text).not.toContain('PHANTOM');
  });

  test('the audit chain over everything above verifies', async () => {
    const v = await verifyAuditChain(gw.db.dataSource);
    expect(v.ok).toBe(true);
    const actions = new Set((await readAudit(gw.db.dataSource, { limit: 10000 })).map((r) => r.action));
    expect([...actions]).toEqual(expect.arrayContaining(['instance.stored', 'instance.duplicate', 'instance.conflict', 'instance.rejected', 'stow.rejected', 'study.ready']));
  });
});

describe('DICOMweb authentication and roles', () => {
  let base: string;
  let gw: Gateway;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    // Static credentials are senders unless their entry names roles: the PACS's upload credentials cannot read.
    ({ gw, url: base, cleanup } = await testGateway({ LT_AUTH_BEARER_TOKENS: 's3cret-token,[reader]viewer-token', LT_AUTH_BASIC_USERS: 'pacs:pacs-pass' }));
  });
  afterAll(() => cleanup());
  const body = multipartBody([series[0].bytes]);

  test.each([
    ['no credentials: 401', undefined, 401],
    ['a wrong token: 401', 'Bearer wrong', 401],
    ['a wrong password: 401', 'Basic ' + Buffer.from('pacs:nope').toString('base64'), 401],
    ['a reader token may not store: 403', 'Bearer viewer-token', 403],
    ['the right token: 200', 'Bearer s3cret-token', 200],
    ['the right user: 200', 'Basic ' + Buffer.from('pacs:pacs-pass').toString('base64'), 200],
  ])('%s', async (_n, auth, expected) => {
    const res = await postStow(`${base}/dicom-web/studies`, body, auth ? { Authorization: auth } : {});
    expect(res.status).toBe(expected);
    if (expected === 401) expect(res.headers.get('www-authenticate')).toMatch(/Bearer/);
  });

  test('WADO-RS needs the reader role: the upload token gets 403, the reader token the bytes, and the read is audited', async () => {
    const url = `${base}/dicom-web/studies/${studyUid}/series/${readPart10(series[0].bytes).dataset.SeriesInstanceUID as string}/instances/${series[0].sopInstanceUid}`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { Authorization: 'Bearer s3cret-token' } })).status).toBe(403);
    expect((await fetch(url, { headers: { Authorization: 'Basic ' + Buffer.from('pacs:pacs-pass').toString('base64') } })).status).toBe(403);
    const ok = await fetch(url, { headers: { Authorization: 'Bearer viewer-token' } });
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).indexOf(series[0].bytes)).toBeGreaterThan(0);
    const reads = (await readAudit(gw.db.dataSource, { studyUid })).filter((r) => r.action === 'instances.retrieved');
    expect(reads).toEqual([expect.objectContaining({ actor: expect.stringMatching(/^bearer@/), objectUids: [expect.any(String), series[0].sopInstanceUid], detail: { level: 'instance', instances: 1 } })]);
  });

  test('refusals store nothing, are counted in the metric and summarised in one audit row per window', async () => {
    expect((await readAudit(gw.db.dataSource)).filter((r) => r.action === 'auth.rejected')).toHaveLength(0);
    await gw.tick(); // the window closes
    const rejected = (await readAudit(gw.db.dataSource)).filter((r) => r.action === 'auth.rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0].detail).toMatchObject({
      refused: 7,
      byMethod: { 'dicomweb unauthenticated POST /dicom-web/studies': 3, 'dicomweb forbidden POST /dicom-web/studies': 1, 'dicomweb unauthenticated GET /dicom-web/studies/:study/series/:series/instances/:instance': 1, 'dicomweb forbidden GET /dicom-web/studies/:study/series/:series/instances/:instance': 2 },
    });
    const stored = (await readAudit(gw.db.dataSource)).filter((r) => r.action === 'instance.stored');
    expect(stored.map((r) => r.actor)).toEqual([expect.stringMatching(/^bearer@/)]);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/lt_auth_failures_total\{surface="dicomweb",outcome="unauthenticated"\} [4-9]/);
  });
});
