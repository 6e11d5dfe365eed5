/**
 * PACS auth and TLS against a small local HTTPS DICOMweb endpoint (a real server on localhost:0 with a certificate
 * from a throwaway CA): OAuth2 client credentials with expiring tokens and refresh, static Bearer and Basic headers,
 * LT_PACS_CA trust; plus 202 partial failures and 503 Retry-After through the outbox, and the no-PACS folder target.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { readPart10 } from '../../src/dicom/dcmjs';
import { createDeliveryTarget, Deliverer, DicomWebTarget, enqueueResults, FolderTarget, type PacsConfig } from '../../src/egress';
import { studyTag } from '../../src/logger';
import { buildResults } from '../../src/results';
import { testDatabase } from '../support/db';
import { syntheticStudy } from '../results/fixtures';
import { tempDir } from '../support/temp-dir';

const fx = syntheticStudy({ size: 64, slices: 16, seed: 'auth-test' });
const results = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 3, now: new Date('2026-03-01T10:00:00Z') });
const studyUid = fx.study.StudyInstanceUID;

interface Seen {
  auth: string | undefined;
  url: string;
  sops: string[];
}

/** Answers STOW with a scripted status; by default 200 with every instance referenced. */
type Script = (sops: string[], n: number) => { status: number; body?: unknown; headers?: Record<string, string> };

const dir = tempDir('tls');
let server: https.Server;
let base = '';
let tokens = 0;
let tokenLifetime = 2;
let seen: Seen[] = [];
let script: Script = () => ({ status: 200 });
const validTokens = new Map<string, number>();

function referenced(sops: string[]) {
  return { '00081199': { vr: 'SQ', Value: sops.map((s) => ({ '00081155': { vr: 'UI', Value: [s] } })) } };
}

function parts(body: Buffer, contentType: string): string[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) return [];
  const sep = Buffer.from(`--${boundary}`);
  const out: string[] = [];
  let at = body.indexOf(sep);
  while (at >= 0) {
    const next = body.indexOf(sep, at + sep.length);
    if (next < 0) break;
    const chunk = body.subarray(at + sep.length, next);
    const headEnd = chunk.indexOf('\r\n\r\n');
    if (headEnd >= 0) {
      let content = chunk.subarray(headEnd + 4);
      if (content.subarray(-2).toString() === '\r\n') content = content.subarray(0, -2);
      out.push(readPart10(content).dataset.SOPInstanceUID as string);
    }
    at = next;
  }
  return out;
}

beforeAll(async () => {
  const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  sh(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=lt-test-ca']);
  sh(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  sh(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
  server = https.createServer({ key: readFileSync(path.join(dir, 'srv.key')), cert: readFileSync(path.join(dir, 'srv.pem')) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/token') {
        const ok = req.headers.authorization === 'Basic ' + Buffer.from('lt-client:s3cret').toString('base64') && /grant_type=client_credentials/.test(body.toString());
        if (!ok) return void res.writeHead(401).end('{"error":"invalid_client"}');
        const token = `tok-${++tokens}`;
        validTokens.set(token, Date.now() + tokenLifetime * 1000);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: tokenLifetime }));
        return;
      }
      const sops = parts(body, String(req.headers['content-type']));
      seen.push({ auth: req.headers.authorization, url: req.url ?? '', sops });
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (bearer?.startsWith('tok-') && (validTokens.get(bearer) ?? 0) < Date.now()) return void res.writeHead(401).end();
      const answer = script(sops, seen.length);
      res.writeHead(answer.status, { 'Content-Type': 'application/dicom+json', ...answer.headers }).end(JSON.stringify(answer.body ?? referenced(sops)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  seen = [];
  script = () => ({ status: 200 });
});

const pacs = (over: Partial<PacsConfig>): PacsConfig => ({ url: `${base}/dicom-web`, auth: 'none', caFile: path.join(dir, 'ca.pem'), ...over });
const one = [{ sopInstanceUid: results.sr.sopInstanceUid, sopClassUid: results.sr.sopClassUid, bytes: results.sr.bytes }];

test('OAuth2 client credentials over TLS with a custom CA: the bearer is sent and refreshed when it expires', async () => {
  tokenLifetime = 2;
  const target = new DicomWebTarget(pacs({ auth: 'oauth2', oauth: { tokenUrl: `${base}/token`, clientId: 'lt-client', clientSecret: 's3cret', scope: 'stow' } }));
  const first = await target.store(studyUid, one);
  expect(first.outcomes).toEqual([{ sopInstanceUid: one[0].sopInstanceUid, result: 'stored' }]);
  const second = await target.store(studyUid, one);
  expect(second.httpStatus).toBe(200);
  expect(seen.map((s) => s.auth)).toEqual(['Bearer tok-1', 'Bearer tok-1']); // cached
  expect(seen[0].url).toBe(`/dicom-web/studies/${studyUid}`);
  expect(seen[0].sops).toEqual([one[0].sopInstanceUid]);
  await new Promise((r) => setTimeout(r, 2100));
  await target.store(studyUid, one);
  expect(seen[2].auth).toBe('Bearer tok-2'); // refreshed after expiry
});

test('a 401 (token revoked early) invalidates the token; the next attempt fetches a new one', async () => {
  tokenLifetime = 60;
  const target = new DicomWebTarget(pacs({ auth: 'oauth2', oauth: { tokenUrl: `${base}/token`, clientId: 'lt-client', clientSecret: 's3cret' } }));
  await target.store(studyUid, one);
  const revoked = seen[0].auth?.slice(7) as string;
  validTokens.set(revoked, 0);
  const r = await target.store(studyUid, one);
  expect(r.httpStatus).toBe(401);
  expect(r.outcomes[0].result).toBe('retry');
  const again = await target.store(studyUid, one);
  expect(again.outcomes[0].result).toBe('stored');
  expect(seen[2].auth).not.toBe(`Bearer ${revoked}`);
});

test('static Bearer and Basic headers; an untrusted certificate is no answer (retried), not a permanent failure', async () => {
  await new DicomWebTarget(pacs({ auth: 'bearer', token: 'static-token' })).store(studyUid, one);
  await new DicomWebTarget(pacs({ auth: 'basic', username: 'ai', password: 'pw' })).store(studyUid, one);
  expect(seen.map((s) => s.auth)).toEqual(['Bearer static-token', 'Basic ' + Buffer.from('ai:pw').toString('base64')]);
  const untrusted = await new DicomWebTarget(pacs({ caFile: undefined }), { timeoutMs: 5000 }).store(studyUid, one);
  expect(untrusted.httpStatus).toBe(0);
  expect(untrusted.outcomes[0].result).toBe('retry');
  expect(seen).toHaveLength(2);
});

describe('through the outbox', () => {
  let env: Awaited<ReturnType<typeof testDatabase>>;
  let dataSource: DataSource;
  let spool: string;
  beforeAll(async () => {
    env = await testDatabase();
    dataSource = env.db.dataSource;
    spool = tempDir('outbox');
    await dataSource.query(`INSERT INTO study (study_uid, state) VALUES ($1, 'ready')`, [studyUid]);
  });
  afterAll(async () => {
    await env?.cleanup();
    rmSync(spool, { recursive: true, force: true });
  });
  const newJob = async () => ((await dataSource.query(`INSERT INTO job (study_uid, state) VALUES ($1, 'encoded') RETURNING id`, [studyUid])) as { id: string }[])[0].id;

  test('202 with a partial failure: only the failed instance is re-sent; 503 with Retry-After is honoured', async () => {
    await dataSource.query(`DELETE FROM outbox`);
    const jobId = await newJob();
    await dataSource.transaction((tx) => enqueueResults(tx, jobId, studyUid, results, spool));
    const victim = results.objects[1].sopInstanceUid;
    script = (sops, n) => {
      if (n === 1)
        return {
          status: 202,
          body: { ...referenced(sops.filter((s) => s !== victim)), '00081198': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: [victim] }, '00081197': { vr: 'US', Value: [0xa700] } }] } },
        };
      if (n === 2) return { status: 503, body: {}, headers: { 'Retry-After': '1' } };
      return { status: 200 };
    };
    const d = new Deliverer(dataSource, new DicomWebTarget(pacs({})), { baseDelayMs: 50, maxDelayMs: 200, pollMs: 50 });
    const t0 = Date.now();
    const [state] = await d.drain([jobId], 20000);
    expect(state).toMatchObject({ state: 'delivered', delivered: results.objects.length });
    expect(seen.map((s) => s.sops.length)).toEqual([results.objects.length, 1, 1]);
    expect(seen[1].sops).toEqual([victim]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // waited for Retry-After
  });

  test('409 with FailureReason A900 fails for good; max attempts ends endless retries', async () => {
    await dataSource.query(`DELETE FROM outbox`);
    const jobId = await newJob();
    await dataSource.transaction((tx) => enqueueResults(tx, jobId, studyUid, results, spool));
    script = (sops) => ({ status: 409, body: { '00081198': { vr: 'SQ', Value: sops.map((s) => ({ '00081155': { vr: 'UI', Value: [s] }, '00081197': { vr: 'US', Value: [0xa900] } })) } } });
    const d = new Deliverer(dataSource, new DicomWebTarget(pacs({})), { baseDelayMs: 20, maxDelayMs: 50, pollMs: 20, maxAttempts: 3 });
    expect((await d.drain([jobId], 10000))[0]).toMatchObject({ state: 'failed', failed: results.objects.length });
    expect(seen).toHaveLength(1);
    await dataSource.query(`DELETE FROM outbox`);
    const job2 = await newJob();
    await dataSource.transaction((tx) => enqueueResults(tx, job2, studyUid, results, spool));
    seen = [];
    script = () => ({ status: 500, body: {} });
    expect((await d.drain([job2], 20000))[0]).toMatchObject({ state: 'failed' });
    // Jitter may split the batch, but every instance was tried exactly maxAttempts times, then given up.
    const tries = new Map<string, number>();
    for (const s of seen) for (const u of s.sops) tries.set(u, (tries.get(u) ?? 0) + 1);
    expect([...tries.values()]).toEqual(results.objects.map(() => 3));
    const [row] = (await dataSource.query(`SELECT last_error FROM outbox WHERE job_id = $1 LIMIT 1`, [job2])) as { last_error: string }[];
    expect(row.last_error).toMatch(/gave up after 3 attempts/);
  });

  test('with no PACS configured results go to <outputDir>/<studyUidHash>/ through the same outbox', async () => {
    await dataSource.query(`DELETE FROM outbox`);
    const out = tempDir('results');
    const target = createDeliveryTarget({ pacs: undefined, outputDir: out });
    expect(target).toBeInstanceOf(FolderTarget);
    const jobId = await newJob();
    await dataSource.transaction((tx) => enqueueResults(tx, jobId, studyUid, results, spool));
    expect((await new Deliverer(dataSource, target).drain([jobId], 10000))[0].state).toBe('delivered');
    const files = readdirSync(path.join(out, studyTag(studyUid))).sort();
    expect(files).toEqual(results.objects.map((o) => `${o.sopInstanceUid}.dcm`).sort());
    expect(existsSync(path.join(out, studyTag(studyUid), `${results.sr.sopInstanceUid}.dcm`))).toBe(true);
    rmSync(out, { recursive: true, force: true });
  });
});
