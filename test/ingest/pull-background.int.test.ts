/**
 * SubmitStudy as a long-running operation (issue 16, item 7), against a real Orthanc as the PACS, the real gateway
 * as its own process (the compiled CLI, killed with SIGKILL), its real worker and PostgreSQL. Between the gateway
 * and Orthanc sits a gate: an HTTP proxy that passes everything but answers only the first few WADO-RS instance
 * retrieves until it is opened, so "the pull is still running" is a state the test holds, not a race it hopes to win.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { freePort, type Database } from '../../src/db/database';
import { readPart10 } from '../../src/dicom/dcmjs';
import type { ProtoGrpcType } from '../../src/generated/triage';
import type { Study__Output } from '../../src/generated/lungtriage/triage/v1/Study';
import type { SubmitStudyResponse__Output } from '../../src/generated/lungtriage/triage/v1/SubmitStudyResponse';
import type { TriageEvent__Output } from '../../src/generated/lungtriage/triage/v1/TriageEvent';
import type { TriageServiceClient } from '../../src/generated/lungtriage/triage/v1/TriageService';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/grpc/loader';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testDatabase } from '../support/db';
import { TEST_MODELS_DIR } from '../support/models';
import { TestOrthanc } from '../support/orthanc';
import { RetrieveGate } from '../support/retrieve-gate';
import { CliProcess } from '../support/process';
import { until } from '../support/wait';

const proto = (grpc.loadPackageDefinition(protoLoader.loadSync('lungtriage/triage/v1/triage.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] })) as unknown as ProtoGrpcType)
  .lungtriage.triage.v1;

describe('SubmitStudy pulls in the background (real Orthanc, real gateway process, worker, PostgreSQL)', () => {
  const OPEN = 5;
  const series = phantomSeries(chestPhantom({ size: 64, slices: 24, seed: 'pull-bg' }), { seed: 'pull-bg' });
  const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
  let orthanc: TestOrthanc;
  let gate: RetrieveGate;
  let db: Database;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let gw: CliProcess | undefined;
  let client: TriageServiceClient;

  beforeAll(async () => {
    orthanc = await new TestOrthanc().start(); // no auto-routing: the study reaches us only by the pull
    await orthanc.upload(series.map((s) => s.bytes));
    gate = new RetrieveGate(new URL(orthanc.url), OPEN);
    const pacsUrl = await gate.start();
    const t = await testDatabase();
    ({ db, cleanup } = t);
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    env = {
      LT_DATABASE_URL: t.url,
      LT_DATA_DIR: t.dataDir,
      LT_HTTP_PORT: String(httpPort),
      LT_GRPC_PORT: String(grpcPort),
      LT_PACS_URL: pacsUrl,
      LT_RECONCILE_SECONDS: '0',
      LT_STABLE_SECONDS: '1',
      LT_JOB_LEASE_SECONDS: '5',
      LT_POLL_MS: '200',
      LT_EARLY_INFERENCE: 'false',
      LT_MODELS_DIR: TEST_MODELS_DIR,
    };
    client = new proto.TriageService(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as unknown as TriageServiceClient;
  });
  afterAll(async () => {
    client?.close();
    await gw?.kill9();
    await gate?.close();
    await orthanc?.destroy();
    await db?.close();
    await cleanup?.();
  });

  type Unary<Res> = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => unknown;
  const call = <Res>(m: unknown, req: unknown) =>
    new Promise<Res>((resolve, reject) =>
      (m as Unary<Res>).call(client, req, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (e, r) => (e ? reject(e) : resolve(r!))),
    );
  const getStudy = () => call<Study__Output>(client.getStudy, { studyInstanceUid: studyUid });
  const startGateway = async () => {
    gw = new CliProcess(['gateway'], env).start();
    await gw.waitForOutput(/"gateway listening"/, 120_000); // the TriageService starts after the DICOMweb listener
  };
  /** Events from the start, read until one matches `last`. */
  const watchUntil = (last: (e: TriageEvent__Output) => boolean) =>
    new Promise<TriageEvent__Output[]>((resolve, reject) => {
      const seen: TriageEvent__Output[] = [];
      const stream = client.watchEvents({ afterEventId: '0' }, new grpc.Metadata(), { deadline: Date.now() + 300_000 });
      stream.on('data', (e: TriageEvent__Output) => {
        seen.push(e);
        if (last(e)) {
          stream.cancel();
          resolve(seen);
        }
      });
      stream.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
    });

  test('answers while the pull runs, never opens a job on the half-pulled study, and a gateway killed mid-pull finishes it after restart', async () => {
    await startGateway();
    await expect(call(client.submitStudy, { studyInstanceUid: '1.2.826.0.1.3680043.99.404' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });

    const submitted = await call<SubmitStudyResponse__Output>(client.submitStudy, { studyInstanceUid: studyUid });
    expect(submitted).toMatchObject({ studyInstanceUid: studyUid, state: 'pulling', jobId: '0', instancesExpected: series.length });
    // The answer came although the gate holds 19 of the 24 instances back (a blocking SubmitStudy never answers here).

    await until('the pull stopped at the gate', async () => (gate.held.length > 0 ? true : undefined));
    const midway = await until('the first instances recorded', async () => {
      const s = await getStudy();
      return s.instanceCount === OPEN ? s : undefined;
    });
    expect(midway).toMatchObject({ state: 'pulling', instancesExpected: series.length, jobId: '0' });
    const early = await watchUntil((e) => e.studyInstanceUid === studyUid && e.kind === 'study.pulling');
    expect(early.filter((e) => e.studyInstanceUid === studyUid).map((e) => e.kind)).toEqual(['study.pulling']);
    // Asked again while it runs: the same pull, nothing restarted.
    expect(await call<SubmitStudyResponse__Output>(client.submitStudy, { studyInstanceUid: studyUid })).toMatchObject({ state: 'pulling' });
    // Several quiet periods (LT_STABLE_SECONDS=1) pass with the study half-pulled: no job opens.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await db.dataSource.query(`SELECT id FROM job WHERE study_uid = $1`, [studyUid])).toEqual([]);
    expect(await db.dataSource.query(`SELECT state FROM study WHERE study_uid = $1`, [studyUid])).toEqual([{ state: 'pulling' }]);

    await gw!.kill9();
    gate.release();
    await startGateway();

    const events = await watchUntil((e) => e.studyInstanceUid === studyUid && (e.kind === 'result.ready' || e.kind === 'study.failed'));
    const kinds = events.filter((e) => e.studyInstanceUid === studyUid).map((e) => e.kind);
    expect(kinds).toEqual(['study.pulling', 'study.pulling', 'study.received', 'result.ready']);
    const done = await getStudy();
    expect(done).toMatchObject({ state: 'delivered', instanceCount: series.length, instancesExpected: 0 });
    expect(done.resultSopInstanceUids.length).toBeGreaterThanOrEqual(1);
    expect(await orthanc.rest<unknown[]>('GET', `/dicom-web/studies/${studyUid}/series?Modality=SR`)).toHaveLength(1);

    // Resumed, not redone: the instances of the first run were kept and each of the 24 stored once.
    const stored = (await db.dataSource.query(`SELECT sop_instance_uid FROM instance WHERE study_uid = $1 AND sop_instance_uid = ANY($2)`, [
      studyUid,
      series.map((s) => s.sopInstanceUid),
    ])) as { sop_instance_uid: string }[];
    expect(stored.map((r) => r.sop_instance_uid).sort()).toEqual(series.map((s) => s.sopInstanceUid).sort());
    const [ready] = (await db.dataSource.query(`SELECT detail FROM audit_log WHERE action = 'study.ready' AND study_uid = $1`, [studyUid])) as { detail: Record<string, unknown> }[];
    expect(ready.detail).toMatchObject({ pulled: series.length - OPEN, alreadyHeld: OPEN, origin: 'submit' });
    expect(await db.dataSource.query(`SELECT state FROM job WHERE study_uid = $1`, [studyUid])).toEqual([{ state: 'delivered' }]);
    expect(await db.dataSource.query(`SELECT 1 FROM study_pull`)).toEqual([]);
  });
});
