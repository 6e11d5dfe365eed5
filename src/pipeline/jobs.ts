import os from 'node:os';
import type { DataSource, EntityManager } from 'typeorm';
import type { PriorityRank } from '../triage-priority';

/** Job states in order; 'failed' and 'superseded' end a job early ('failed' still delivers an SR saying why). */
export type JobState = 'ready' | 'selected' | 'inferred' | 'encoded' | 'delivered' | 'failed' | 'superseded';

/** A claimed job row. */
export interface Job {
  id: number;
  studyUid: string;
  state: JobState;
  inputHash: string | null;
  attempts: number;
  result: Record<string, unknown> | null;
}

interface JobRow {
  id: string;
  study_uid: string;
  state: JobState;
  input_hash: string | null;
  attempts: number;
  result: Record<string, unknown> | null;
}

/** TypeORM answers UPDATE ... RETURNING with [rows, count] on Postgres and plain rows elsewhere. */
export function returnedRows<T>(r: unknown): T[] {
  const a = r as unknown[];
  return (Array.isArray(a[0]) ? a[0] : a) as T[];
}

const fromRow = (r: JobRow): Job => ({ id: Number(r.id), studyUid: r.study_uid, state: r.state, inputHash: r.input_hash, attempts: r.attempts, result: r.result });

/** This process's lease identity. */
export const LEASE_OWNER = `${os.hostname()}:${process.pid}`;

/**
 * Claims the next runnable job (due, unleased or lease expired), highest priority rank first, then oldest, with FOR UPDATE SKIP LOCKED, so gateways sharing a
 * database never take the same job; a crashed gateway's job is taken over once its lease runs out.
 */
export async function claimJob(ds: DataSource, leaseSeconds: number, owner = LEASE_OWNER): Promise<Job | undefined> {
  const rows = (await ds.query(
    `UPDATE job SET lease_owner = $1, lease_until = now() + make_interval(secs => $2), attempts = attempts + 1, updated_at = now()
      WHERE id = (SELECT id FROM job
                   WHERE state IN ('ready', 'selected', 'inferred') AND next_run_at <= now()
                     AND (lease_until IS NULL OR lease_until < now())
                   ORDER BY priority DESC, id FOR UPDATE SKIP LOCKED LIMIT 1)
      RETURNING id, study_uid, state, input_hash, attempts, result`,
    [owner, leaseSeconds],
  )) as unknown;
  const [row] = returnedRows<JobRow>(rows);
  return row ? fromRow(row) : undefined;
}

/** Extends a held lease; false when the lease was lost (another gateway took the job over). */
export async function renewLease(ds: DataSource, jobId: number, leaseSeconds: number, owner = LEASE_OWNER): Promise<boolean> {
  const rows = (await ds.query(
    `UPDATE job SET lease_until = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2 RETURNING id`,
    [jobId, owner, leaseSeconds],
  )) as unknown;
  return returnedRows(rows).length > 0;
}

/**
 * Moves a held job to a new state, merging timings and result fields and raising its claim rank to `priority`
 * (never lowering it); false when the lease was lost.
 */
export async function advanceJob(
  db: DataSource | EntityManager,
  jobId: number,
  to: JobState,
  fields: {
    timings?: Record<string, number>;
    result?: Record<string, unknown>;
    inputHash?: string;
    error?: string | null;
    releaseLease?: boolean;
    priority?: PriorityRank;
  } = {},
  owner = LEASE_OWNER,
): Promise<boolean> {
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

/** Puts a held job back to wait (transient failure): released, runnable again after `delayMs`. */
export async function retryLater(ds: DataSource, jobId: number, delayMs: number, error: string, owner = LEASE_OWNER): Promise<void> {
  await ds.query(
    `UPDATE job SET lease_owner = NULL, lease_until = NULL, next_run_at = now() + make_interval(secs => $3), error = $4, updated_at = now()
      WHERE id = $1 AND lease_owner = $2`,
    [jobId, owner, delayMs / 1000, error],
  );
}
