import path from 'node:path';
import type { Database } from '../../src/db/database';
import { InstanceRecorder } from '../../src/ingest/instance-store';
import { Spool } from '../../src/ingest/spool';
import { advanceJob, claimJob, encodedJobs, finishEncodedJob, getJob, previousSrResult, triageEventsAfter } from '../../src/db/jobs';
import { importLocal } from '../../src/pipeline/local-study';
import { markStableStudies, openJob } from '../../src/study/completeness';
import { chestPhantom, writePhantomSeries, type SeriesOptions } from '../../src/synthetic/phantom';
import { PRIORITY } from '../../src/triage-priority';
import { testDatabase } from '../support/db';

/**
 * The job repository on a real PostgreSQL. One priority scale, end to end on a real PostgreSQL: ingest records what each instance's order asks for, a job
 * opens at that rank, the result can only raise it, and the claim takes the highest rank first.
 */
describe('job repository and priority (real PostgreSQL)', () => {
  let db: Database;
  let dataDir: string;
  let cleanup: () => Promise<void>;
  let deps: { dataSource: Database['dataSource']; spool: Spool; recorder: InstanceRecorder };
  beforeAll(async () => {
    ({ db, dataDir, cleanup } = await testDatabase());
    const spool = new Spool(path.join(dataDir, 'spool'));
    await spool.init();
    deps = { dataSource: db.dataSource, spool, recorder: new InstanceRecorder(db.dataSource) };
  });
  afterAll(() => cleanup());

  /** Writes a small phantom study, imports it through the ingest path and opens its job. */
  async function queueStudy(name: string, extra: SeriesOptions['extra'] = {}): Promise<{ studyUid: string; jobId: number }> {
    writePhantomSeries(path.join(dataDir, name), chestPhantom({ size: 32, slices: 3 }), { seed: `priority-${name}`, extra });
    const imported = await importLocal(deps, path.join(dataDir, name));
    expect(imported.studies).toHaveLength(1);
    const studyUid = imported.studies[0];
    const { jobId } = await db.dataSource.transaction((tx) => openJob(tx, studyUid, 3, 'test', { completedBy: 'quiet-period' }));
    return { studyUid, jobId };
  }

  test('a STAT study queued behind routine ones is claimed first, then HIGH, then the routine ones in order', async () => {
    const routine1 = await queueStudy('routine-1');
    const routine2 = await queueStudy('routine-2', { RequestAttributesSequence: [{ RequestedProcedureID: 'RP1', RequestedProcedurePriority: 'ROUTINE' }] });
    const high = await queueStudy('high', { RequestedProcedurePriority: 'HIGH' });
    // Where an image carries its order: the Request Attributes Sequence.
    const stat = await queueStudy('stat', { RequestAttributesSequence: [{ RequestedProcedureID: 'RP2', RequestedProcedurePriority: 'STAT' }] });

    const rows = (await db.dataSource.query(`SELECT id, priority FROM job ORDER BY id`)) as { id: string; priority: number }[];
    expect(rows.map((r) => r.priority)).toEqual([PRIORITY.ROUTINE, PRIORITY.ROUTINE, PRIORITY.HIGH, PRIORITY.URGENT]);
    const event = (await db.dataSource.query(`SELECT priority FROM triage_event WHERE kind = 'study.received' AND job_id = $1`, [stat.jobId])) as { priority: number }[];
    expect(event[0].priority).toBe(PRIORITY.URGENT);

    const claimed = [];
    for (let i = 0; i < 4; i++) claimed.push((await claimJob(db.dataSource, 60, 'test-owner'))?.id);
    expect(claimed).toEqual([stat.jobId, high.jobId, routine1.jobId, routine2.jobId]);
    expect(await claimJob(db.dataSource, 60, 'test-owner')).toBeUndefined();
  });

  test('the result raises the rank, never lowers it, and a re-opened study starts at the rank its last job reached', async () => {
    const s = await queueStudy('raised');
    expect((await claimJob(db.dataSource, 60, 'raise-owner'))?.id).toBe(s.jobId);
    expect(await advanceJob(db.dataSource, s.jobId, 'encoded', { priority: PRIORITY.URGENT, result: { priority: 'URGENT' } }, 'raise-owner')).toBe(true);
    expect(await advanceJob(db.dataSource, s.jobId, 'encoded', { priority: PRIORITY.ROUTINE }, 'raise-owner')).toBe(true);
    const [row] = (await db.dataSource.query(`SELECT priority FROM job WHERE id = $1`, [s.jobId])) as { priority: number }[];
    expect(row.priority).toBe(PRIORITY.URGENT);

    const again = await db.dataSource.transaction((tx) => openJob(tx, s.studyUid, 3, 'test', { completedBy: 'quiet-period' }));
    const [reopened] = (await db.dataSource.query(`SELECT priority FROM job WHERE id = $1`, [again.jobId])) as { priority: number }[];
    expect(reopened.priority).toBe(PRIORITY.URGENT);
    expect((await claimJob(db.dataSource, 60, 'raise-owner'))?.id).toBe(again.jobId);
    expect(await advanceJob(db.dataSource, again.jobId, 'superseded', { releaseLease: true }, 'raise-owner')).toBe(true);
  });

  test('an encoded job is finished once, its typed result read back, and the SR it wrote found by the next job', async () => {
    const s = await queueStudy('finish');
    expect((await claimJob(db.dataSource, 60, 'finish-owner'))?.id).toBe(s.jobId);
    const result = { priority: 'HIGH' as const, srSopInstanceUid: '2.25.11', srSeriesInstanceUid: '2.25.12', resultUids: ['2.25.11'] };
    expect(await advanceJob(db.dataSource, s.jobId, 'encoded', { result, releaseLease: true }, 'finish-owner')).toBe(true);
    expect((await encodedJobs(db.dataSource)).map((j) => j.id)).toContain(s.jobId);
    expect(await finishEncodedJob(db.dataSource, s.jobId, 'delivered', null)).toBe(true);
    expect(await finishEncodedJob(db.dataSource, s.jobId, 'failed', 'too late')).toBe(false);
    expect(await getJob(db.dataSource, s.jobId)).toMatchObject({ state: 'delivered', error: null, result });

    const next = await db.dataSource.transaction((tx) => openJob(tx, s.studyUid, 3, 'test', { completedBy: 'quiet-period' }));
    expect(await previousSrResult(db.dataSource, { id: next.jobId, studyUid: s.studyUid })).toMatchObject({ srSopInstanceUid: '2.25.11' });
    const events = await triageEventsAfter(db.dataSource, 0);
    expect(events.filter((e) => e.jobId === next.jobId)).toEqual([expect.objectContaining({ kind: 'study.received', studyUid: s.studyUid, payload: { instances: 3, completedBy: 'quiet-period' } })]);
  });

  test('a study a request of this process is still delivering is never complete, however long ago its last instance came', async () => {
    writePhantomSeries(path.join(dataDir, 'in-flight'), chestPhantom({ size: 32, slices: 3 }), { seed: 'in-flight' });
    const [studyUid] = (await importLocal(deps, path.join(dataDir, 'in-flight'))).studies;
    // As on a loaded machine where the receiving heartbeat came late: the quiet period has long passed.
    await db.dataSource.query(`UPDATE study SET state = 'receiving', last_received_at = now() - interval '1 hour' WHERE study_uid = $1`, [studyUid]);
    expect((await markStableStudies(db.dataSource, 1, [studyUid])).map((r) => r.studyUid)).not.toContain(studyUid);
    const ready = await markStableStudies(db.dataSource, 1, []);
    expect(ready.map((r) => r.studyUid)).toContain(studyUid);
  });
});
