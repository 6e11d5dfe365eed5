/**
 * Faults of a background pull (issue 16, item 7), with a real Orthanc as the PACS and real PostgreSQL: a PACS that
 * goes away after the pull was recorded is retried with backoff and the pull completes once it is back; a study the
 * PACS no longer holds ends 'pull_failed' with its reason and a study.failed event, and asking again pulls it; a
 * gateway shutting down mid-pull hands the pull back at once, so another resumes it without waiting out the lease.
 */
import path from 'node:path';
import type { Database } from '../../src/db/database';
import { studyWithLatestJob, triageEventsAfter } from '../../src/db/jobs';
import { readPart10 } from '../../src/dicom/dcmjs';
import { InstanceRecorder } from '../../src/ingest/instance-store';
import { Puller, requestPull, type PullDeps } from '../../src/ingest/pull';
import { Spool } from '../../src/ingest/spool';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testDatabase } from '../support/db';
import { TestOrthanc } from '../support/orthanc';
import { RetrieveGate } from '../support/retrieve-gate';
import { until } from '../support/wait';

describe('background pull faults (real Orthanc, real PostgreSQL)', () => {
  let orthanc: TestOrthanc;
  let db: Database;
  let cleanup: () => Promise<void>;
  let deps: PullDeps;
  let puller: Puller;
  const study = (seed: string) => {
    const series = phantomSeries(chestPhantom({ size: 32, slices: 4, seed }), { seed });
    return { series, uid: readPart10(series[0].bytes).dataset.StudyInstanceUID as string };
  };
  const kinds = async (uid: string) => (await triageEventsAfter(db.dataSource, 0)).filter((e) => e.studyUid === uid).map((e) => e.kind);

  beforeAll(async () => {
    orthanc = await new TestOrthanc().start();
    let dataDir: string;
    ({ db, dataDir, cleanup } = await testDatabase());
    const spool = new Spool(path.join(dataDir, 'spool'));
    await spool.init();
    deps = { dataSource: db.dataSource, spool, recorder: new InstanceRecorder(db.dataSource), pacs: { url: orthanc.dicomWebUrl, auth: 'none' }, timeoutMs: 5000 };
    puller = new Puller({ ...deps, leaseSeconds: 60 });
  });
  afterAll(async () => {
    await orthanc?.destroy();
    await cleanup?.();
  });

  test('the PACS gone when the pull runs: retried with backoff, the study stays pulling (no job), and the pull completes once it is back', async () => {
    const { series, uid } = study('pull-fault-down');
    await orthanc.upload(series.map((s) => s.bytes));
    expect(await requestPull(deps, uid, 'test', 'submit')).toEqual({ expected: series.length });
    await orthanc.stop();
    expect(await puller.runOnce()).toEqual({ ran: true });
    const waiting = await studyWithLatestJob(db.dataSource, uid);
    expect(waiting).toMatchObject({ shown_state: 'pulling', pull_expected: series.length, job_id: null });
    expect(waiting?.error).toMatch(/^retrying: the PACS did not answer the instance query/);
    const [row] = (await db.dataSource.query(`SELECT attempts, next_run_at > now() AS backing_off, lease_owner FROM study_pull WHERE study_uid = $1`, [uid])) as unknown[];
    expect(row).toEqual({ attempts: 1, backing_off: true, lease_owner: null });
    expect(await puller.runOnce()).toEqual({ ran: false }); // backing off: nothing due now

    await orthanc.start();
    const result = await until('the retried pull', async () => (await puller.runOnce()).result, 30_000, 500);
    expect(result).toMatchObject({ studyUid: uid, retrieved: series.length, held: 0, failed: [] });
    expect(await studyWithLatestJob(db.dataSource, uid)).toMatchObject({ shown_state: 'ready', pull_expected: null, error: null });
    expect(await kinds(uid)).toEqual(['study.pulling', 'study.received']);
  });

  test('a study the PACS no longer holds ends pull_failed with a study.failed event; asked again once it is back, it is pulled', async () => {
    const { series, uid } = study('pull-fault-gone');
    await orthanc.upload(series.map((s) => s.bytes));
    await requestPull(deps, uid, 'test', 'submit');
    await orthanc.rest('DELETE', `/studies/${await orthanc.studyId(uid)}`);
    expect(await puller.runOnce()).toEqual({ ran: true });
    expect(await studyWithLatestJob(db.dataSource, uid)).toMatchObject({ shown_state: 'pull_failed', error: 'the PACS has no instances for this study' });
    const failed = (await triageEventsAfter(db.dataSource, 0)).find((e) => e.studyUid === uid && e.kind === 'study.failed');
    expect(failed?.payload).toEqual({ error: 'the PACS has no instances for this study' });
    expect(await puller.runOnce()).toEqual({ ran: false }); // not retried by itself
    await expect(requestPull(deps, uid, 'test', 'submit')).rejects.toMatchObject({ httpStatus: 404 });

    await orthanc.upload(series.map((s) => s.bytes));
    await requestPull(deps, uid, 'test', 'submit');
    expect((await puller.runOnce()).result).toMatchObject({ studyUid: uid, retrieved: series.length });
    expect(await kinds(uid)).toEqual(['study.pulling', 'study.failed', 'study.pulling', 'study.received']);
  });

  test('stopped mid-pull (gateway shutdown), the pull is handed back at once and another gateway resumes it', async () => {
    const { series, uid } = study('pull-fault-stop');
    await orthanc.upload(series.map((s) => s.bytes));
    const gate = new RetrieveGate(new URL(orthanc.url), 2);
    try {
      const gated = { ...deps, pacs: { url: await gate.start(), auth: 'none' as const } };
      await requestPull(gated, uid, 'test', 'submit');
      const first = new Puller({ ...gated, leaseSeconds: 600 }, 'gateway-a');
      const running = first.runOnce();
      await until('the pull waiting at the gate', async () => (gate.held.length > 0 ? true : undefined));
      first.stop();
      gate.release();
      expect(await running).toEqual({ ran: true });
      expect(await db.dataSource.query(`SELECT lease_owner, lease_until FROM study_pull WHERE study_uid = $1`, [uid])).toEqual([{ lease_owner: null, lease_until: null }]);
      expect(await studyWithLatestJob(db.dataSource, uid)).toMatchObject({ shown_state: 'pulling', instance_count: 3, job_id: null });

      const { result } = await new Puller({ ...gated, leaseSeconds: 600 }, 'gateway-b').runOnce();
      expect(result).toMatchObject({ studyUid: uid, held: 3, retrieved: series.length - 3 });
    } finally {
      await gate.close();
    }
  });
});
