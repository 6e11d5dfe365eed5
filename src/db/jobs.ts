/**
 * The job repository: the one owner of the `job` and `triage_event` tables. Services call these named functions and
 * never hold SQL for either table; `JobResult` is the one shape of `job.result`.
 */
import os from 'node:os';
import type { DataSource, EntityManager } from 'typeorm';
import { PRIORITY, type PriorityName, type PriorityRank } from '../triage-priority';

/** A connection or a transaction: every function here runs on either. */
export type Queryable = DataSource | EntityManager;

/** Job states in order; 'failed' and 'superseded' end a job early ('failed' still delivers an SR saying why). */
export type JobState = 'ready' | 'selected' | 'inferred' | 'encoded' | 'delivered' | 'failed' | 'superseded';

/** The patient-level assessment as a job result records it. */
export interface JobAssessment {
  label: string;
  positiveProbability: number;
  threshold: number;
  decision: string;
  classProbabilities: Record<string, number>;
  /** Models 2.0: infection present / indeterminate / absent, the infected volume and share of the lung. */
  infection?: {
    decision: string;
    infectedMl: number;
    lungMl: number;
    fraction: number;
    /** Per lung (right, left) and per zone (upper, middle, lower), as results/analysis-summary.ts infectionByRegion. */
    byRegion?: Record<string, { infectedMl: number; lungMl: number; fraction: number }>;
  };
}

/**
 * What `job.result` holds, merged stage by stage: the selection (series, slices, why others were rejected), then the
 * encoded result (triage level, assessment, result UIDs, the SR that a later result supersedes), or a failure report.
 */
export interface JobResult {
  /** Chosen series and its slice count, the other series' rejection reasons, volume warnings (selection). */
  seriesUid?: string;
  slices?: number;
  rejections?: string[];
  warnings?: string[];
  /** The result's triage level (the job's claim rank may be higher: see src/triage-priority.ts). */
  priority?: PriorityName;
  assessment?: JobAssessment;
  resultUids?: string[];
  srSopInstanceUid?: string;
  srSeriesInstanceUid?: string;
  keySlices?: number[];
  lesionBurden?: number;
  laterality?: string;
  /** Set when the job ended in a failure report instead of an AI result. */
  failure?: { stage: string; reason: string };
  modelVersion?: string;
  /** The earlier job whose result this one repeats (input unchanged). */
  unchangedFromJob?: number;
}

/** A claimed job row. */
export interface Job {
  id: number;
  studyUid: string;
  state: JobState;
  inputHash: string | null;
  attempts: number;
  result: JobResult | null;
  /** When the job opened: transient faults are retried until LT_TRANSIENT_RETRY_SECONDS after it. */
  createdAt: Date;
}

interface JobRow {
  id: string;
  study_uid: string;
  state: JobState;
  input_hash: string | null;
  attempts: number;
  result: JobResult | null;
  created_at: Date;
}

/** TypeORM answers UPDATE ... RETURNING with [rows, count] on Postgres and plain rows elsewhere. */
export function returnedRows<T>(r: unknown): T[] {
  const a = r as unknown[];
  return (Array.isArray(a[0]) ? a[0] : a) as T[];
}

const fromRow = (r: JobRow): Job => ({
  id: Number(r.id),
  studyUid: r.study_uid,
  state: r.state,
  inputHash: r.input_hash,
  attempts: r.attempts,
  result: r.result,
  createdAt: r.created_at,
});

/** This process's lease identity. */
export const LEASE_OWNER = `${os.hostname()}:${process.pid}`;

/**
 * Claims the next runnable job (due, unleased or lease expired), highest priority rank first, then oldest, with FOR UPDATE SKIP LOCKED, so gateways sharing a
 * database never take the same job; a crashed gateway's job is taken over once its lease runs out. Every claim counts
 * as an attempt (`attempts` is raised here, not when a stage fails), so a job that takes its process down is counted too.
 */
export async function claimJob(dataSource: DataSource, leaseSeconds: number, owner = LEASE_OWNER): Promise<Job | undefined> {
  const rows = (await dataSource.query(
    `UPDATE job SET lease_owner = $1, lease_until = now() + make_interval(secs => $2), attempts = attempts + 1, updated_at = now()
      WHERE id = (SELECT id FROM job
                   WHERE state IN ('ready', 'selected', 'inferred') AND next_run_at <= now()
                     AND (lease_until IS NULL OR lease_until < now())
                   ORDER BY priority DESC, id FOR UPDATE SKIP LOCKED LIMIT 1)
      RETURNING id, study_uid, state, input_hash, attempts, result, created_at`,
    [owner, leaseSeconds],
  )) as unknown;
  const [row] = returnedRows<JobRow>(rows);
  return row ? fromRow(row) : undefined;
}

/** Extends a held lease; false when the lease was lost (another gateway took the job over). */
export async function renewLease(dataSource: DataSource, jobId: number, leaseSeconds: number, owner = LEASE_OWNER): Promise<boolean> {
  const rows = (await dataSource.query(
    `UPDATE job SET lease_until = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2 RETURNING id`,
    [jobId, owner, leaseSeconds],
  )) as unknown;
  return returnedRows(rows).length > 0;
}

/** What a move to a new state writes besides the state (advanceJob). */
export interface JobAdvance {
  timings?: Record<string, number>;
  result?: JobResult;
  inputHash?: string;
  error?: string | null;
  releaseLease?: boolean;
  priority?: PriorityRank;
}

/**
 * Moves a held job to a new state, merging timings and result fields and raising its claim rank to `priority`
 * (never lowering it); false when the lease was lost.
 */
export async function advanceJob(db: Queryable, jobId: number, to: JobState, fields: JobAdvance = {}, owner = LEASE_OWNER): Promise<boolean> {
  const rows = (await db.query(
    `UPDATE job SET state = $2, updated_at = now(),
            timings = timings || $3::jsonb, result = COALESCE(result, '{}'::jsonb) || $4::jsonb,
            input_hash = COALESCE($5, input_hash), error = CASE WHEN $6::boolean THEN $7 ELSE error END,
            lease_owner = CASE WHEN $8::boolean THEN NULL ELSE lease_owner END,
            lease_until = CASE WHEN $8::boolean THEN NULL ELSE lease_until END,
            priority = GREATEST(priority, COALESCE($10::int, priority))
      WHERE id = $1 AND lease_owner = $9 RETURNING id`,
    [
      jobId,
      to,
      JSON.stringify(fields.timings ?? {}),
      JSON.stringify(fields.result ?? {}),
      fields.inputHash ?? null,
      fields.error !== undefined,
      fields.error ?? null,
      Boolean(fields.releaseLease),
      owner,
      fields.priority ?? null,
    ],
  )) as unknown;
  return returnedRows(rows).length > 0;
}

/** The error a job last recorded (retryLater), if any. */
export async function lastJobError(db: Queryable, jobId: number): Promise<string | undefined> {
  const [row] = (await db.query(`SELECT error FROM job WHERE id = $1`, [jobId])) as { error: string | null }[];
  return row?.error ?? undefined;
}

/** Puts a held job back to wait (transient failure): released, runnable again after `delayMs`. */
export async function retryLater(dataSource: DataSource, jobId: number, delayMs: number, error: string, opts: { transient?: boolean } = {}, owner = LEASE_OWNER): Promise<void> {
  // A transient fault (disk full, worker busy) gives the claim's attempt back: attempts count crashes and real
  // failures, and transient faults are bounded by time instead (LT_TRANSIENT_RETRY_SECONDS).
  await dataSource.query(
    `UPDATE job SET lease_owner = NULL, lease_until = NULL, next_run_at = now() + make_interval(secs => $3), error = $4, updated_at = now(),
            attempts = attempts - CASE WHEN $5::boolean THEN 1 ELSE 0 END
      WHERE id = $1 AND lease_owner = $2`,
    [jobId, owner, delayMs / 1000, error, Boolean(opts.transient)],
  );
}

/**
 * Ends a held job as 'failed' when not even its failure report could be written, with its 'study.failed' event,
 * so IT hears of every final failure; false when the lease was lost.
 */
export async function failJob(dataSource: DataSource, job: Pick<Job, 'id' | 'studyUid'>, error: string, owner = LEASE_OWNER): Promise<boolean> {
  return dataSource.transaction(async (tx) => {
    if (!(await advanceJob(tx, job.id, 'failed', { error, releaseLease: true }, owner))) return false;
    const [{ priority }] = (await tx.query(`SELECT priority FROM job WHERE id = $1`, [job.id])) as { priority: PriorityRank }[];
    await appendTriageEvent(tx, { kind: 'study.failed', studyUid: job.studyUid, jobId: job.id, priority, payload: { error } });
    return true;
  });
}

/**
 * Opens a job for a study in state 'ready', at the claim rank known now: the highest rank the study's instances'
 * orders ask for, or the rank the study's last job reached, whichever is higher; with its 'study.received' event.
 */
export async function insertJob(tx: EntityManager, studyUid: string, instances: number, completedBy: string): Promise<{ id: number; priority: PriorityRank }> {
  const [row] = (await tx.query(
    `INSERT INTO job (study_uid, state, priority)
       SELECT $1, 'ready', GREATEST(COALESCE((SELECT max(requested_priority) FROM instance WHERE study_uid = $1), $2),
                                    COALESCE((SELECT priority FROM job WHERE study_uid = $1 ORDER BY id DESC LIMIT 1), $2))
     RETURNING id, priority`,
    [studyUid, PRIORITY.ROUTINE],
  )) as { id: string; priority: PriorityRank }[];
  const id = Number(row.id);
  await appendTriageEvent(tx, { kind: 'study.received', studyUid, jobId: id, priority: row.priority, payload: { instances, completedBy } });
  return { id, priority: row.priority };
}

/** True when a later job exists for the same study (this one is then superseded). */
export async function hasNewerJob(db: Queryable, job: Pick<Job, 'id' | 'studyUid'>): Promise<boolean> {
  const rows = (await db.query(`SELECT id FROM job WHERE study_uid = $1 AND id > $2 LIMIT 1`, [job.studyUid, job.id])) as unknown[];
  return rows.length > 0;
}

/** The latest earlier job of the study with the same input that produced a result (delivered or encoded). */
export async function earlierJobWithInput(db: Queryable, job: Pick<Job, 'id' | 'studyUid'>, inputHash: string): Promise<{ id: number; result: JobResult } | undefined> {
  const [row] = (await db.query(
    `SELECT id, result FROM job WHERE study_uid = $1 AND id < $2 AND input_hash = $3 AND state IN ('delivered', 'encoded') ORDER BY id DESC LIMIT 1`,
    [job.studyUid, job.id, inputHash],
  )) as { id: string; result: JobResult }[];
  return row ? { id: Number(row.id), result: row.result } : undefined;
}

/** The result of the study's latest earlier job that wrote an SR (the one a new result supersedes). */
export async function previousSrResult(db: Queryable, job: Pick<Job, 'id' | 'studyUid'>): Promise<JobResult | undefined> {
  const [row] = (await db.query(
    `SELECT result FROM job WHERE study_uid = $1 AND id < $2 AND state IN ('delivered', 'failed', 'encoded') AND result ? 'srSopInstanceUid' ORDER BY id DESC LIMIT 1`,
    [job.studyUid, job.id],
  )) as { result: JobResult }[];
  return row?.result;
}

/** Jobs whose results are encoded and wait for delivery to finish, oldest first. */
export async function encodedJobs(db: Queryable, limit = 100): Promise<{ id: number; studyUid: string; result: JobResult }[]> {
  const rows = (await db.query(`SELECT id, study_uid, result FROM job WHERE state = 'encoded' ORDER BY id LIMIT $1`, [limit])) as {
    id: string;
    study_uid: string;
    result: JobResult | null;
  }[];
  return rows.map((r) => ({ id: Number(r.id), studyUid: r.study_uid, result: r.result ?? {} }));
}

/** Ends an encoded job ('delivered' or 'failed'); false when another gateway ended it first. */
export async function finishEncodedJob(db: Queryable, jobId: number, end: 'delivered' | 'failed', error: string | null): Promise<boolean> {
  const rows = await db.query(`UPDATE job SET state = $2, error = $3, updated_at = now() WHERE id = $1 AND state = 'encoded' RETURNING id`, [jobId, end, error]);
  return returnedRows(rows).length > 0;
}

/** A job as reports read it: state, result, stage timings, error. */
export interface JobReport {
  id: number;
  studyUid: string;
  state: JobState;
  result: JobResult;
  timings: Record<string, number>;
  error: string | null;
}

function toReport(r: { id: string; study_uid: string; state: JobState; result: JobResult | null; timings: Record<string, number>; error: string | null }): JobReport {
  return { id: Number(r.id), studyUid: r.study_uid, state: r.state, result: r.result ?? {}, timings: r.timings, error: r.error };
}

/** One job by id, or undefined. */
export async function getJob(db: Queryable, jobId: number): Promise<JobReport | undefined> {
  const rows = (await db.query(`SELECT id, study_uid, state, result, timings, error FROM job WHERE id = $1`, [jobId])) as Parameters<typeof toReport>[0][];
  return rows[0] ? toReport(rows[0]) : undefined;
}

/** The most recently opened job, or undefined. */
export async function latestJob(db: Queryable): Promise<JobReport | undefined> {
  const rows = (await db.query(`SELECT id, study_uid, state, result, timings, error FROM job ORDER BY id DESC LIMIT 1`)) as Parameters<typeof toReport>[0][];
  return rows[0] ? toReport(rows[0]) : undefined;
}

/** How many unfinished jobs are in each state (the queue-depth gauge). */
export async function unfinishedJobsByState(db: Queryable): Promise<{ state: JobState; n: number }[]> {
  return (await db.query(`SELECT state, count(*)::int AS n FROM job WHERE state NOT IN ('delivered', 'failed', 'superseded') GROUP BY state`)) as {
    state: JobState;
    n: number;
  }[];
}

/** A study with its latest job, as the TriageService shows it. */
export interface StudyJobRow {
  study_uid: string;
  instance_count: number;
  study_state: string;
  /** What the TriageService shows: the study's state until it has a job (receiving, pulling, pull_failed), then the job's. */
  shown_state: string;
  /** Instances the PACS listed, while a pull is recorded (pulling or pull_failed); else null. */
  pull_expected: number | null;
  first_received_at: Date;
  job_id: string | null;
  job_state: string | null;
  result: JobResult | null;
  error: string | null;
  timings: Record<string, number> | null;
  updated_at: Date | null;
}

const STUDY_JOB_SELECT = `
  SELECT s.study_uid, s.instance_count, s.state AS study_state, s.first_received_at,
         CASE WHEN s.state <> 'ready' OR j.state IS NULL THEN s.state ELSE j.state END AS shown_state,
         p.expected AS pull_expected,
         j.id AS job_id, j.state AS job_state, j.result, CASE WHEN p.study_uid IS NOT NULL THEN p.error ELSE j.error END AS error, j.timings, j.updated_at
    FROM study s
    LEFT JOIN study_pull p ON p.study_uid = s.study_uid
    LEFT JOIN LATERAL (SELECT * FROM job WHERE job.study_uid = s.study_uid ORDER BY id DESC LIMIT 1) j ON true`;

/** One study with its latest job, or undefined when no such study was received. */
export async function studyWithLatestJob(db: Queryable, studyUid: string): Promise<StudyJobRow | undefined> {
  const rows = (await db.query(`${STUDY_JOB_SELECT} WHERE s.study_uid = $1`, [studyUid])) as StudyJobRow[];
  return rows[0];
}

/** Filters and paging for {@link listStudiesWithLatestJob}. */
export interface StudyJobFilter {
  /** The shown state (see StudyJobRow.shown_state); '' for any. */
  state: string;
  /** Result levels to keep; undefined for any (studies without a result included). */
  priorities?: PriorityName[];
  receivedAfter: Date | null;
  receivedBefore: Date | null;
  limit: number;
  offset: number;
}

/** Studies with their latest job, newest first. */
export async function listStudiesWithLatestJob(db: Queryable, f: StudyJobFilter): Promise<StudyJobRow[]> {
  return (await db.query(
    `SELECT * FROM (${STUDY_JOB_SELECT}) x
      WHERE ($1::text = '' OR x.shown_state = $1)
        AND ($2::text[] IS NULL OR x.result->>'priority' = ANY($2::text[]))
        AND ($3::timestamptz IS NULL OR x.first_received_at >= $3)
        AND ($4::timestamptz IS NULL OR x.first_received_at < $4)
      ORDER BY x.first_received_at DESC, x.study_uid LIMIT $5 OFFSET $6`,
    [f.state, f.priorities ?? null, f.receivedAfter, f.receivedBefore, f.limit, f.offset],
  )) as StudyJobRow[];
}

/** A triage event for IT (TriageService WatchEvents). */
export interface TriageEventRecord {
  kind: 'study.pulling' | 'study.received' | 'study.recovered' | 'result.ready' | 'result.withheld' | 'study.not_applicable' | 'study.failed' | (string & {});
  studyUid: string;
  jobId: number | null;
  priority: PriorityRank;
  /** completedBy (study.received): the rule that called the study complete (quiet-period, pacs-count, pull, local). */
  payload: { instances?: number; completedBy?: string; assessment?: JobAssessment; error?: string | null };
}

/** Appends a triage event (inside the caller's transaction, with the change it announces). */
export async function appendTriageEvent(db: Queryable, e: TriageEventRecord): Promise<void> {
  await db.query(`INSERT INTO triage_event (kind, study_uid, job_id, priority, payload) VALUES ($1, $2, $3, $4, $5)`, [
    e.kind,
    e.studyUid,
    e.jobId,
    e.priority,
    JSON.stringify(e.payload),
  ]);
}

/** A stored triage event with its id and time. */
export interface StoredTriageEvent extends TriageEventRecord {
  id: string;
  at: Date;
}

/** Events after `afterId`, in id order. */
export async function triageEventsAfter(db: Queryable, afterId: number, limit = 500): Promise<StoredTriageEvent[]> {
  const rows = (await db.query(`SELECT id, at, kind, study_uid, job_id, priority, payload FROM triage_event WHERE id > $1 ORDER BY id LIMIT $2`, [afterId, limit])) as {
    id: string;
    at: Date;
    kind: string;
    study_uid: string;
    job_id: string | null;
    priority: PriorityRank;
    payload: TriageEventRecord['payload'];
  }[];
  return rows.map((r) => ({ id: r.id, at: r.at, kind: r.kind, studyUid: r.study_uid, jobId: r.job_id === null ? null : Number(r.job_id), priority: r.priority, payload: r.payload }));
}
