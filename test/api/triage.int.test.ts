import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Authenticator } from '../../src/api/authenticator';
import { startTriageServer } from '../../src/api/triage-service';
import { AuthFailureLog } from '../../src/audit/auth-failures';
import { audit } from '../../src/audit/audit-log';
import type { Database } from '../../src/db/database';
import type { ProtoGrpcType } from '../../src/generated/triage';
import type { TriageServiceClient } from '../../src/generated/lungtriage/triage/v1/TriageService';
import type { TriageEvent__Output } from '../../src/generated/lungtriage/triage/v1/TriageEvent';
import type { Study__Output } from '../../src/generated/lungtriage/triage/v1/Study';
import type { ListStudiesResponse__Output } from '../../src/generated/lungtriage/triage/v1/ListStudiesResponse';
import type { GetAuditTrailResponse__Output } from '../../src/generated/lungtriage/triage/v1/GetAuditTrailResponse';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/grpc/loader';
import { testDatabase } from '../support/db';

const proto = (grpc.loadPackageDefinition(protoLoader.loadSync('lungtriage/triage/v1/triage.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] })) as unknown as ProtoGrpcType)
  .lungtriage.triage.v1;

describe('TriageService (real server on localhost:0, real PostgreSQL)', () => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let server: { port: number; close(): Promise<void> };
  let client: TriageServiceClient;
  let authFailures: AuthFailureLog;
  const md = new grpc.Metadata();
  md.set('authorization', 'Bearer it-token');

  beforeAll(async () => {
    ({ db, cleanup } = await testDatabase());
    authFailures = new AuthFailureLog(db.dataSource);
    server = await startTriageServer({ dataSource: db.dataSource, auth: new Authenticator({ bearer: [{ secret: 'it-token', roles: ['reader', 'operator', 'auditor'] }] }), authFailures, pollMs: 50 }, { host: '127.0.0.1', port: 0 });
    client = new proto.TriageService(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure()) as unknown as TriageServiceClient;
    const q = (sql: string, p: unknown[]) => db.dataSource.query(sql, p);
    // Three studies: one routine result, one urgent result, one still receiving.
    for (const [uid, state] of [
      ['1.2.3.1', 'ready'],
      ['1.2.3.2', 'ready'],
      ['1.2.3.3', 'receiving'],
    ]) {
      await q(`INSERT INTO study (study_uid, state, instance_count) VALUES ($1, $2, 10)`, [uid, state]);
    }
    const result = (priority: string, p: number) =>
      JSON.stringify({ priority, assessment: { label: 'covid-19', positiveProbability: p, threshold: 0.3, decision: p >= 0.3 ? 'positive' : 'negative', classProbabilities: { 'covid-19': p, 'non-covid': 1 - p } }, resultUids: ['2.25.1', '2.25.2'] });
    await q(`INSERT INTO job (study_uid, state, result, timings) VALUES ('1.2.3.1', 'delivered', $1, '{"inference": 12.5}')`, [result('ROUTINE', 0.1)]);
    await q(`INSERT INTO job (study_uid, state, result) VALUES ('1.2.3.2', 'delivered', $1)`, [result('URGENT', 0.97)]);
    await q(`INSERT INTO triage_event (kind, study_uid, priority) VALUES ('study.received', '1.2.3.1', 1), ('result.ready', '1.2.3.1', 1), ('result.ready', '1.2.3.2', 3)`, []);
    await audit(db.dataSource, { actor: 'test', action: 'x', outcome: 'success', studyUid: '1.2.3.1' });
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
    await cleanup();
  });

  type Unary<Res> = (req: unknown, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Res) => void) => unknown;
  const call = <Res>(m: unknown, req: unknown, meta = md) =>
    new Promise<Res>((resolve, reject) => (m as Unary<Res>).call(client, req, meta, (e, r) => (e ? reject(e) : resolve(r!))));

  test('GetStudy returns state, priority and assessment; unknown and malformed UIDs get NOT_FOUND and INVALID_ARGUMENT', async () => {
    const s = await call<Study__Output>(client.getStudy, { studyInstanceUid: '1.2.3.2' });
    expect(s).toMatchObject({ state: 'delivered', priority: 'URGENT', assessment: { label: 'covid-19', decision: 'positive' } });
    expect((await call<Study__Output>(client.getStudy, { studyInstanceUid: '1.2.3.3' })).state).toBe('receiving');
    await expect(call(client.getStudy, { studyInstanceUid: '1.2.9' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(call(client.getStudy, { studyInstanceUid: '../etc' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  test('ListStudies filters by state and minimum priority and pages', async () => {
    const urgent = await call<ListStudiesResponse__Output>(client.listStudies, { minPriority: 'URGENT' });
    expect(urgent.studies.map((s) => s.studyInstanceUid)).toEqual(['1.2.3.2']);
    const receiving = await call<ListStudiesResponse__Output>(client.listStudies, { state: 'receiving' });
    expect(receiving.studies.map((s) => s.studyInstanceUid)).toEqual(['1.2.3.3']);
    const page1 = await call<ListStudiesResponse__Output>(client.listStudies, { pageSize: 2 });
    expect(page1.studies).toHaveLength(2);
    const page2 = await call<ListStudiesResponse__Output>(client.listStudies, { pageSize: 2, pageToken: page1.nextPageToken });
    expect(page2.studies).toHaveLength(1);
    expect(page2.nextPageToken).toBe('');
  });

  test('WatchEvents sends urgent results first and resumes after the last processed event without loss', async () => {
    const events: TriageEvent__Output[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = client.watchEvents({ afterEventId: '0' }, md);
      stream.on('data', (e: TriageEvent__Output) => {
        events.push(e);
        if (events.length === 3) stream.cancel();
      });
      stream.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? resolve() : reject(e)));
      stream.on('end', resolve);
    });
    expect(events.map((e) => e.priority)).toEqual(['URGENT', 'ROUTINE', 'ROUTINE']);
    expect(events[0].studyInstanceUid).toBe('1.2.3.2');
    // Only the last event of a batch moves the resume point past the batch.
    expect(events[2].resumeAfterId).toBe(events.map((e) => Number(e.eventId)).reduce((a, b) => Math.max(a, b)).toString());
    await db.dataSource.query(`INSERT INTO triage_event (kind, study_uid, priority) VALUES ('study.failed', '1.2.3.3', 1)`);
    const resumed = await new Promise<TriageEvent__Output>((resolve, reject) => {
      const stream = client.watchEvents({ afterEventId: events[2].resumeAfterId }, md);
      stream.on('data', (e: TriageEvent__Output) => {
        resolve(e);
        stream.cancel();
      });
      stream.on('error', (e: grpc.ServiceError) => e.code !== grpc.status.CANCELLED && reject(e));
    });
    expect(resumed).toMatchObject({ kind: 'study.failed', studyInstanceUid: '1.2.3.3' });
  });

  test('audit trail reads and verifies; reads are audited; refused calls are counted into one aggregated audit row', async () => {
    const trail = await call<GetAuditTrailResponse__Output>(client.getAuditTrail, { studyInstanceUid: '1.2.3.1' });
    expect(trail.records.map((r) => r.action)).toEqual(['x']);
    expect(await call(client.verifyAudit, {})).toMatchObject({ ok: true });
    await call(client.getStudy, { studyInstanceUid: '1.2.3.1' });
    // Who read what: the trail read itself (after it was read) and the study read, both by the token's caller.
    const again = await call<GetAuditTrailResponse__Output>(client.getAuditTrail, { studyInstanceUid: '1.2.3.1' });
    expect(again.records.map((r) => [r.action, r.actor.replace(/@.*/, '')])).toEqual([
      ['x', 'test'],
      ['audit.read', 'token'],
      ['study.read', 'token'],
    ]);
    for (let i = 0; i < 5; i++)
      await expect(call(client.getStudy, { studyInstanceUid: '1.2.3.1' }, new grpc.Metadata())).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const wrong = new grpc.Metadata();
    wrong.set('authorization', 'Bearer not-the-token');
    await expect(call(client.listStudies, {}, wrong)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(await db.dataSource.query(`SELECT 1 FROM audit_log WHERE action = 'auth.rejected'`)).toHaveLength(0);
    await authFailures.flush();
    const rows = (await db.dataSource.query(`SELECT detail FROM audit_log WHERE action = 'auth.rejected'`)) as { detail: { refused: number; byMethod: Record<string, number> } }[];
    expect(rows).toHaveLength(1);
    expect(rows[0].detail).toMatchObject({ refused: 6, byMethod: { 'grpc unauthenticated GetStudy': 5, 'grpc unauthenticated ListStudies': 1 } });
  });

  test('roles: a reader token reads but may not read the audit trail or submit (PERMISSION_DENIED)', async () => {
    const readerServer = await startTriageServer(
      { dataSource: db.dataSource, auth: new Authenticator({ bearer: [{ secret: 'reader-token', roles: ['reader'] }] }), pollMs: 50 },
      { host: '127.0.0.1', port: 0 },
    );
    const c = new proto.TriageService(`127.0.0.1:${readerServer.port}`, grpc.credentials.createInsecure()) as unknown as TriageServiceClient;
    const m = new grpc.Metadata();
    m.set('authorization', 'Bearer reader-token');
    const on = <Res>(fn: unknown, req: unknown) => new Promise<Res>((resolve, reject) => (fn as Unary<Res>).call(c, req, m, (e, r) => (e ? reject(e) : resolve(r!))));
    try {
      expect((await on<Study__Output>(c.getStudy, { studyInstanceUid: '1.2.3.2' })).state).toBe('delivered');
      await expect(on(c.getAuditTrail, {})).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/auditor/) });
      await expect(on(c.verifyAudit, {})).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
      await expect(on(c.submitStudy, { studyInstanceUid: '1.2.3.9' })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/operator/) });
    } finally {
      c.close();
      await readerServer.close();
    }
  });

  test('malformed arguments are INVALID_ARGUMENT, not INTERNAL: page token "1e308", limit -1, an after_id beyond 2^53', async () => {
    const token = (s: string) => Buffer.from(s).toString('base64url');
    for (const pageToken of [token('1e308'), token('-5'), token('1.5'), token('x')])
      await expect(call(client.listStudies, { pageToken })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(call(client.getAuditTrail, { limit: -1 })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(call(client.getAuditTrail, { afterId: '9223372036854775807' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(call(client.getAuditTrail, { afterId: '-1' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  test('SubmitStudy without a configured PACS is FAILED_PRECONDITION', async () => {
    await expect(call(client.submitStudy, { studyInstanceUid: '1.2.3.9' })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
  });
});
