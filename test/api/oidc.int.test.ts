/**
 * OIDC bearer tokens (issue 17, "Identity and roles"): a real local issuer (RSA keys generated here, the discovery
 * document and JWKS served over HTTP by this test) and a real gateway process (the compiled CLI: jose is ESM-only,
 * which jest's sandbox cannot load). The tokens are signed with node:crypto, not with the library under test.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readAudit } from '../../src/audit/audit-log';
import { freePort } from '../../src/db/database';
import { readPart10 } from '../../src/dicom/dcmjs';
import type { ProtoGrpcType } from '../../src/generated/triage';
import type { TriageServiceClient } from '../../src/generated/lungtriage/triage/v1/TriageService';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/grpc/loader';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testDatabase } from '../support/db';
import { TEST_MODELS_DIR } from '../support/models';
import { CliProcess } from '../support/process';
import { multipartBody, postStow } from '../support/stow';

const proto = (grpc.loadPackageDefinition(protoLoader.loadSync('lungtriage/triage/v1/triage.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] })) as unknown as ProtoGrpcType)
  .lungtriage.triage.v1;

const AUDIENCE = 'lung-triage';
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** An RS256 JWT signed with node:crypto. */
function jwt(key: KeyObject, kid: string, claims: Record<string, unknown>): string {
  const signing = `${b64({ alg: 'RS256', typ: 'JWT', kid })}.${b64(claims)}`;
  return `${signing}.${sign('sha256', Buffer.from(signing), key).toString('base64url')}`;
}

describe('OIDC bearer tokens against a real local issuer (real gateway process, real PostgreSQL)', () => {
  const issuerKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let issuer: Server;
  let iss: string;
  let t: Awaited<ReturnType<typeof testDatabase>>;
  let gw: CliProcess;
  let base: string;
  let client: TriageServiceClient;
  const now = () => Math.floor(Date.now() / 1000);
  const token = (claims: Record<string, unknown>, key = issuerKey.privateKey) => jwt(key, 'k1', { iss, aud: AUDIENCE, sub: 'svc-1', iat: now(), exp: now() + 300, ...claims });

  beforeAll(async () => {
    issuer = createServer((req, res) => {
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer: iss, jwks_uri: `${iss}/jwks` }));
      else if (req.url === '/jwks') res.end(JSON.stringify({ keys: [{ ...issuerKey.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] }));
      else res.writeHead(404).end('{}');
    });
    await new Promise<void>((r) => issuer.listen(0, '127.0.0.1', r));
    iss = `http://127.0.0.1:${(issuer.address() as AddressInfo).port}`;
    t = await testDatabase();
    const [http, grpcPort] = [await freePort(), await freePort()];
    gw = new CliProcess(['gateway'], {
      LT_DATABASE_URL: t.url,
      LT_DATA_DIR: t.dataDir,
      LT_HTTP_PORT: String(http),
      LT_GRPC_PORT: String(grpcPort),
      LT_OIDC_ISSUER: iss,
      LT_OIDC_AUDIENCE: AUDIENCE,
      // No inference here: a worker address that is never called keeps the models unloaded.
      LT_WORKERS: '127.0.0.1:9',
      LT_STABLE_SECONDS: '3600',
      LT_MODELS_DIR: TEST_MODELS_DIR,
      LT_LOG_LEVEL: 'warn',
    }).start();
    base = `http://127.0.0.1:${http}`;
    await gw.waitForHttp(`${base}/healthz`, 120_000);
    client = new proto.TriageService(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as unknown as TriageServiceClient;
  });
  afterAll(async () => {
    client?.close();
    await gw?.stop();
    await t?.cleanup();
    await new Promise((r) => issuer?.close(r));
  });

  const series = phantomSeries(chestPhantom({ size: 32, slices: 2 }), { seed: 'oidc' });
  const first = readPart10(series[0].bytes).dataset as Record<string, string>;
  const stow = (bearer?: string) => postStow(`${base}/dicom-web/studies`, multipartBody([series[0].bytes]), bearer ? { Authorization: `Bearer ${bearer}` } : {});
  const wadoUrl = () => `${base}/dicom-web/studies/${first.StudyInstanceUID}/series/${first.SeriesInstanceUID}/instances/${first.SOPInstanceUID}`;

  test('DICOMweb: a sender token stores, a reader token reads; the roles come from the roles claim or the scopes', async () => {
    expect((await stow(token({ roles: ['sender'] }))).status).toBe(200);
    const read = await fetch(wadoUrl(), { headers: { Authorization: `Bearer ${token({ scope: 'openid reader' })}` } });
    expect(read.status).toBe(200);
    const audited = await readAudit(t.db.dataSource, { studyUid: first.StudyInstanceUID });
    expect(audited.map((r) => [r.action, r.actor.replace(/@.*/, '')])).toEqual([
      ['instance.stored', 'oidc:svc-1'],
      ['instances.retrieved', 'oidc:svc-1'],
    ]);
  });

  test.each([
    ['expired', 401, () => token({ roles: ['sender'], exp: now() - 600 })],
    ['wrong audience', 401, () => token({ roles: ['sender'], aud: 'someone-else' })],
    ['wrong issuer', 401, () => token({ roles: ['sender'], iss: 'http://evil.example' })],
    ['signed with a key not in the JWKS', 401, () => token({ roles: ['sender'] }, otherKey.privateKey)],
    ['alg none', 401, () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss, aud: AUDIENCE, sub: 'x', exp: now() + 300, roles: ['sender'] })}.`],
    ['valid but without the sender role', 403, () => token({ roles: ['reader'] })],
  ])('DICOMweb: %s → %i', async (_n, status, make) => {
    const res = await stow(make());
    expect(res.status).toBe(status);
    if (status === 401) expect(res.headers.get('www-authenticate')).toMatch(/Bearer/);
  });

  type Unary<Res> = (req: unknown, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Res) => void) => unknown;
  const call = <Res>(m: unknown, req: unknown, bearer: string) => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${bearer}`);
    return new Promise<Res>((resolve, reject) => (m as Unary<Res>).call(client, req, md, (e, r) => (e ? reject(e) : resolve(r!))));
  };

  test('TriageService: reader reads, auditor reads the trail; expired, wrong audience or key UNAUTHENTICATED; missing role PERMISSION_DENIED', async () => {
    await expect(call(client.getStudy, { studyInstanceUid: first.StudyInstanceUID }, token({ roles: ['reader'] }))).resolves.toMatchObject({ studyInstanceUid: first.StudyInstanceUID });
    await expect(call(client.getAuditTrail, {}, token({ scp: ['auditor'] }))).resolves.toMatchObject({ records: expect.any(Array) });
    await expect(call(client.getAuditTrail, {}, token({ roles: ['reader'] }))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await expect(call(client.submitStudy, { studyInstanceUid: '1.2.3' }, token({ roles: ['reader', 'auditor'] }))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    for (const bad of [token({ roles: ['reader'], exp: now() - 600 }), token({ roles: ['reader'], aud: 'x' }), token({ roles: ['reader'] }, otherKey.privateKey)])
      await expect(call(client.getStudy, { studyInstanceUid: first.StudyInstanceUID }, bad)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });
});
