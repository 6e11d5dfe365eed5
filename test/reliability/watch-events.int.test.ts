/**
 * TriageService.WatchEvents never dies silently (issue 17, item 6): refused callers get UNAUTHENTICATED at once, a
 * PostgreSQL restart is ridden out (later events still arrive), an outage longer than the bound ends the stream with
 * UNAVAILABLE, and the client resumes from the last event id it was given. Real server, a real PostgreSQL of its own.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { rmSync } from 'node:fs';
import { Authenticator } from '../../src/api/authenticator';
import { startTriageServer } from '../../src/api/triage-service';
import { openDatabase, type Database } from '../../src/db/database';
import type { ProtoGrpcType } from '../../src/generated/triage';
import type { TriageServiceClient } from '../../src/generated/lungtriage/triage/v1/TriageService';
import type { TriageEvent__Output } from '../../src/generated/lungtriage/triage/v1/TriageEvent';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/grpc/loader';
import { PostgresProcess } from '../support/postgres-process';
import { tempDir } from '../support/temp-dir';

const proto = (grpc.loadPackageDefinition(protoLoader.loadSync('lungtriage/triage/v1/triage.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] })) as unknown as ProtoGrpcType)
  .lungtriage.triage.v1;

const TOKEN = 'watch-token';
/** The bound of the server that rides out restarts (the gateway's default), and of the one that gives up soon. */
const PATIENT_OUTAGE_MS = 30_000;
const OUTAGE_MS = 3000;

/** A watching client: the events it got, and how its stream ended (the status code), with a deadline as a bound. */
function watch(client: TriageServiceClient, afterEventId: string, md: grpc.Metadata, deadlineS = 60) {
  const events: TriageEvent__Output[] = [];
  const stream = client.watchEvents({ afterEventId }, md, { deadline: Date.now() + deadlineS * 1000 });
  stream.on('data', (e: TriageEvent__Output) => events.push(e));
  const ended = new Promise<grpc.status>((resolve) => {
    stream.on('error', (e: grpc.ServiceError) => resolve(e.code));
    stream.on('end', () => resolve(grpc.status.OK));
  });
  const received = async (n: number) => {
    while (events.length < n) {
      const status = await Promise.race([ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]);
      if (status !== undefined) throw new Error(`stream ended with status ${grpc.status[status]} after ${events.length} of ${n} events`);
    }
    return events;
  };
  return { events, ended, received, cancel: () => stream.cancel() };
}

describe('WatchEvents across refusals and PostgreSQL restarts', () => {
  const pg = new PostgresProcess();
  const dataDir = tempDir('watch');
  let db: Database;
  let server: { port: number; close(): Promise<void> };
  let client: TriageServiceClient;
  let impatientServer: { port: number; close(): Promise<void> };
  let impatientClient: TriageServiceClient;
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  const addEvent = (kind: string) => db.dataSource.query(`INSERT INTO triage_event (kind, study_uid, priority) VALUES ($1, '1.2.826.0.1.3680043.10.1', 1)`, [kind]);

  beforeAll(async () => {
    await pg.start();
    db = await openDatabase({ url: pg.url, dataDir, migrate: true });
    const start = (databaseOutageMs: number) => startTriageServer({ dataSource: db.dataSource, auth: new Authenticator({ bearer: [{ secret: TOKEN, roles: ['reader'] }] }), pollMs: 100, databaseOutageMs }, { host: '127.0.0.1', port: 0 });
    const connect = (port: number) => new proto.TriageService(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as TriageServiceClient;
    server = await start(PATIENT_OUTAGE_MS);
    client = connect(server.port);
    impatientServer = await start(OUTAGE_MS);
    impatientClient = connect(impatientServer.port);
  });
  afterAll(async () => {
    client?.close();
    impatientClient?.close();
    await server?.close();
    await impatientServer?.close();
    await db?.close().catch(() => undefined);
    await pg.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('missing or wrong credentials end the stream with UNAUTHENTICATED; a malformed after_event_id with INVALID_ARGUMENT', async () => {
    const wrong = new grpc.Metadata();
    wrong.set('authorization', 'Bearer not-the-token');
    const refused = await Promise.all(Array.from({ length: 40 }, (_, i) => watch(client, '0', i % 2 ? wrong : new grpc.Metadata(), 20).ended));
    expect(new Set(refused)).toEqual(new Set([grpc.status.UNAUTHENTICATED]));
    expect(await watch(client, '-1', md, 20).ended).toBe(grpc.status.INVALID_ARGUMENT);
  });

  test('a PostgreSQL restart is ridden out: events written after it still arrive on the same stream', async () => {
    await addEvent('study.received');
    const w = watch(client, '0', md);
    await w.received(1);
    await pg.stop();
    await new Promise((r) => setTimeout(r, 1000));
    await pg.start();
    await addEvent('result.ready');
    const events = await w.received(2);
    expect(events.map((e) => e.kind)).toEqual(['study.received', 'result.ready']);
    w.cancel();
  });

  test(`an outage longer than the bound (${OUTAGE_MS} ms) ends the stream with UNAVAILABLE; the client resumes from its last event id`, async () => {
    const w = watch(impatientClient, '0', md);
    const seen = await w.received(2);
    const resumeFrom = seen[seen.length - 1].resumeAfterId;
    await pg.stop();
    try {
      expect(await w.ended).toBe(grpc.status.UNAVAILABLE);
    } finally {
      await pg.start();
    }
    await addEvent('study.failed');
    const resumed = watch(client, resumeFrom, md);
    const later = await resumed.received(1);
    expect(later.map((e) => e.kind)).toEqual(['study.failed']);
    resumed.cancel();
  });
});
