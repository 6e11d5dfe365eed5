import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource, EntityManager } from 'typeorm';
import { appendAudit } from '../audit/audit-log';
import { appendTriageEvent } from '../db/jobs';
import { log, studyTag } from '../logger';
import type { ResultObject, ResultObjects } from '../results';
import { writeFileDurable } from './folder-target';
import { PRIORITY, type PriorityRank } from '../triage-priority';
import type { DeliveryTarget, InstanceOutcome, OutgoingInstance, StoreResult } from './target';

/**
 * Writes the result files (durably) under <dir>/<studyUidHash>/, then records one pending outbox row per instance
 * in the caller's transaction, so "encoded" and "queued for delivery" commit together. Enqueuing the same result
 * again (a retried job re-creates the same UIDs) adds nothing; an instance that had failed for good is re-armed.
 * Returns how many rows were added or re-armed.
 */
export async function enqueueResults(
  tx: EntityManager,
  jobId: number | string,
  studyUid: string,
  objects: ResultObjects | ResultObject[],
  dir: string,
): Promise<number> {
  const list = Array.isArray(objects) ? objects : objects.objects;
  const studyDir = path.join(dir, studyTag(studyUid));
  let changed = 0;
  for (const o of list) {
    const file = path.join(studyDir, `${o.kind}-${o.sopInstanceUid}.dcm`);
    writeFileDurable(file, o.bytes);
    const rows = (await tx.query(
      `INSERT INTO outbox (job_id, study_uid, sop_instance_uid, sop_class_uid, path)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (sop_instance_uid) DO UPDATE
         SET state = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL, job_id = EXCLUDED.job_id, path = EXCLUDED.path
         WHERE outbox.state = 'failed'
       RETURNING id`,
      [jobId, studyUid, o.sopInstanceUid, o.sopClassUid, file],
    )) as { id: string }[];
    changed += rows.length;
  }
  await appendAudit(tx, {
    actor: 'egress',
    action: 'result.enqueue',
    outcome: 'success',
    studyUid,
    objectUids: list.map((o) => o.sopInstanceUid),
    detail: { jobId: String(jobId), instances: list.length, queued: changed },
  });
  return changed;
}

/** Delivery state of one job's results. */
export interface JobDeliveryState {
  jobId: string;
  /** delivered: every instance stored; failed: none pending and at least one failed for good; pending otherwise; empty: nothing queued. */
  state: 'delivered' | 'failed' | 'pending' | 'empty';
  pending: number;
  delivered: number;
  failed: number;
}

/** Reads the delivery state of a job from its outbox rows. */
export async function jobDeliveryState(db: DataSource | EntityManager, jobId: number | string): Promise<JobDeliveryState> {
  const rows = (await db.query(`SELECT state, count(*)::int AS n FROM outbox WHERE job_id = $1 GROUP BY state`, [jobId])) as { state: string; n: number }[];
  const count = (s: string) => rows.find((r) => r.state === s)?.n ?? 0;
  const pending = count('pending');
  const delivered = count('delivered');
  const failed = count('failed');
  const state = pending + delivered + failed === 0 ? 'empty' : pending > 0 ? 'pending' : failed > 0 ? 'failed' : 'delivered';
  return { jobId: String(jobId), state, pending, delivered, failed };
}

/** Tuning of the {@link Deliverer}. */
export interface DelivererOptions {
  /**
   * After this many attempts an instance that still cannot be delivered is marked failed (default 160: with the
   * default delays about 2 hours of PACS outage are ridden out).
   */
  maxAttempts?: number;
  /**
   * First retry delay (default 2 s), doubled per attempt up to maxDelayMs (default 60 s), with jitter: a PACS back
   * from an outage gets its triage results within a minute.
   */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * How long a claimed row stays invisible to other deliverers (default 60 s); renewed while its request is in
   * flight, so this is also how long a crashed gateway's rows wait before another attempt.
   */
  leaseMs?: number;
  /** Rows claimed per round (default 100) and the most bytes sent in one STOW request (default 256 MiB). */
  batchSize?: number;
  maxRequestBytes?: number;
  /** Idle poll interval of run() (default 1 s). */
  pollMs?: number;
  /** Random source for jitter (tests). */
  random?: () => number;
  /** Deliver only into studies the target holds (LT_RESULTS_ONLY_TO_HELD_STUDIES; default false here, true in the gateway). */
  onlyHeldStudies?: boolean;
}

/** Why results were not sent (outbox last_error, audit, triage event). */
export const WITHHELD = 'withheld: the destination does not hold this study (results kept here, in the outbox folder)';

/** What one round did. */
export interface DeliveryRound {
  attempted: number;
  stored: number;
  retrying: number;
  failed: number;
  /** State of every job touched in this round. */
  jobs: JobDeliveryState[];
}

interface ClaimedRow {
  id: string;
  job_id: string;
  study_uid: string;
  sop_instance_uid: string;
  sop_class_uid: string;
  path: string;
  attempts: number;
}

/**
 * Exponential backoff with "equal jitter": half the doubled delay fixed, half random, capped; never sooner than a
 * server's Retry-After.
 */
export function backoffMs(attempt: number, o: { baseDelayMs: number; maxDelayMs: number; random: () => number }, retryAfter?: number): number {
  const exp = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exp / 2 + (o.random() * exp) / 2;
  return Math.max(jittered, retryAfter ?? 0);
}

/**
 * Sends due outbox rows to a target. Rows are claimed with FOR UPDATE SKIP LOCKED and leased (next_attempt_at
 * pushed ahead) in a short transaction, so several gateway replicas share the outbox without sending a row twice
 * at once, and a crash mid-request only delays the row until its lease ends. Each study's rows go in one request
 * (split by size); per-instance outcomes update the rows, and each attempt is audited in the same transaction.
 */
export class Deliverer {
  private readonly options: Required<DelivererOptions>;
  private readonly owner = `${os.hostname()}:${process.pid}`;

  constructor(
    private readonly dataSource: DataSource,
    readonly target: DeliveryTarget,
    opts: DelivererOptions = {},
  ) {
    this.options = {
      maxAttempts: opts.maxAttempts ?? 160,
      baseDelayMs: opts.baseDelayMs ?? 2000,
      maxDelayMs: opts.maxDelayMs ?? 60_000,
      leaseMs: opts.leaseMs ?? 60_000,
      batchSize: opts.batchSize ?? 100,
      maxRequestBytes: opts.maxRequestBytes ?? 256 * 1024 * 1024,
      pollMs: opts.pollMs ?? 1000,
      random: opts.random ?? Math.random,
      onlyHeldStudies: opts.onlyHeldStudies ?? false,
    };
  }

  /** Claims and sends every due row once (up to batchSize); returns what happened. */
  async deliverDue(): Promise<DeliveryRound> {
    const claimed = await this.dataSource.transaction(
      (tx) =>
        tx.query(
          `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + ($2::int * interval '1 millisecond')
           WHERE id IN (
             SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= now()
             ORDER BY next_attempt_at, id FOR UPDATE SKIP LOCKED LIMIT $1)
           RETURNING id, job_id, study_uid, sop_instance_uid, sop_class_uid, path, attempts`,
          [this.options.batchSize, this.options.leaseMs],
        ) as Promise<[ClaimedRow[], number] | ClaimedRow[]>,
    );
    const rows = (Array.isArray(claimed[0]) ? claimed[0] : claimed) as ClaimedRow[];
    const round: DeliveryRound = { attempted: rows.length, stored: 0, retrying: 0, failed: 0, jobs: [] };
    const byStudy = new Map<string, ClaimedRow[]>();
    for (const r of rows) byStudy.set(r.study_uid, [...(byStudy.get(r.study_uid) ?? []), r]);
    for (const [studyUid, studyRows] of byStudy) {
      for (const batch of this.split(studyRows)) await this.sendBatch(studyUid, batch, round);
    }
    const jobIds = [...new Set(rows.map((r) => r.job_id))];
    round.jobs = await Promise.all(jobIds.map((id) => jobDeliveryState(this.dataSource, id)));
    return round;
  }

  /** Runs rounds until the signal aborts, sleeping while nothing is due. */
  async run(signal: AbortSignal, onRound?: (r: DeliveryRound) => void): Promise<void> {
    while (!signal.aborted) {
      let round: DeliveryRound | undefined;
      try {
        round = await this.deliverDue();
        if (round.attempted) onRound?.(round);
      } catch (e) {
        log.error('delivery round failed', { err: e });
      }
      if (round?.attempted) continue;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          signal.removeEventListener('abort', wake);
          resolve();
        }, this.options.pollMs);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /** Delivers until nothing is pending for these jobs (or the deadline passes); returns their states. */
  async drain(jobIds: (number | string)[], deadlineMs: number): Promise<JobDeliveryState[]> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const states = await Promise.all(jobIds.map((id) => jobDeliveryState(this.dataSource, id)));
      if (states.every((s) => s.state !== 'pending') || Date.now() > end) return states;
      const round = await this.deliverDue();
      if (!round.attempted) await new Promise((r) => setTimeout(r, Math.min(this.options.pollMs, 250)));
    }
  }

  private split(rows: ClaimedRow[]): { row: ClaimedRow; instance?: OutgoingInstance; readError?: string }[][] {
    const batches: { row: ClaimedRow; instance?: OutgoingInstance; readError?: string }[][] = [];
    let current: { row: ClaimedRow; instance?: OutgoingInstance; readError?: string }[] = [];
    let bytes = 0;
    for (const row of rows) {
      let entry: { row: ClaimedRow; instance?: OutgoingInstance; readError?: string };
      try {
        entry = { row, instance: { sopInstanceUid: row.sop_instance_uid, sopClassUid: row.sop_class_uid, bytes: readFileSync(row.path) } };
      } catch (e) {
        entry = { row, readError: `result file unreadable: ${(e as NodeJS.ErrnoException).code ?? 'error'}` };
      }
      const size = entry.instance?.bytes.length ?? 0;
      if (current.length && bytes + size > this.options.maxRequestBytes) {
        batches.push(current);
        current = [];
        bytes = 0;
      }
      current.push(entry);
      bytes += size;
    }
    if (current.length) batches.push(current);
    return batches;
  }

  /**
   * With onlyHeldStudies: results for a study the destination does not hold are not sent (they would make an
   * AI-only study there) but failed for good with the reason, kept in the outbox folder. No answer: retried.
   */
  private async withheld(studyUid: string, sendable: OutgoingInstance[]): Promise<(StoreResult & { withheld?: true }) | undefined> {
    if (!this.options.onlyHeldStudies || !this.target.holdsStudy) return undefined;
    try {
      if (await this.target.holdsStudy(studyUid)) return undefined;
    } catch (e) {
      const reason = `study check (QIDO-RS) failed: ${(e as Error).message || 'no answer'}`;
      return { httpStatus: 0, error: reason, outcomes: sendable.map((i) => ({ sopInstanceUid: i.sopInstanceUid, result: 'retry', reason })) };
    }
    log.warn('results withheld: the destination does not hold the study', { study: studyTag(studyUid), instances: sendable.length });
    return { withheld: true, error: WITHHELD, outcomes: sendable.map((i) => ({ sopInstanceUid: i.sopInstanceUid, result: 'failed', reason: WITHHELD })) };
  }

  private async sendBatch(studyUid: string, batch: { row: ClaimedRow; instance?: OutgoingInstance; readError?: string }[], round: DeliveryRound): Promise<void> {
    const sendable = batch.filter((b) => b.instance).map((b) => b.instance as OutgoingInstance);
    const started = Date.now();
    // The lease is renewed while the request runs, so it can be short: a crashed gateway's rows go out again soon.
    const ids = batch.map((b) => b.row.id);
    const renew = setInterval(() => {
      this.dataSource
        .query(`UPDATE outbox SET next_attempt_at = now() + ($2::int * interval '1 millisecond') WHERE id = ANY($1) AND state = 'pending'`, [ids, this.options.leaseMs])
        .catch((e: unknown) => log.warn('delivery lease renewal failed', { err: e }));
    }, this.options.leaseMs / 3);
    const send = (): Promise<StoreResult> =>
      this.target.store(studyUid, sendable).catch((e: Error) => ({
        httpStatus: 0,
        error: e.message,
        retryAfterMs: undefined,
        outcomes: sendable.map((i): InstanceOutcome => ({ sopInstanceUid: i.sopInstanceUid, result: 'retry', reason: e.message })),
      }));
    const result: StoreResult & { withheld?: true } = sendable.length
      ? ((await this.withheld(studyUid, sendable)) ?? (await send()))
      : { outcomes: [] as InstanceOutcome[], httpStatus: undefined, error: undefined, retryAfterMs: undefined };
    const withheld = result.withheld === true;
    clearInterval(renew);
    const outcome = new Map(result.outcomes.map((o) => [o.sopInstanceUid, o]));
    const counts = { stored: 0, retrying: 0, failed: 0 };
    await this.dataSource.transaction(async (tx) => {
      for (const { row, readError } of batch) {
        const o: InstanceOutcome = readError
          ? { sopInstanceUid: row.sop_instance_uid, result: 'failed', reason: readError }
          : (outcome.get(row.sop_instance_uid) ?? { sopInstanceUid: row.sop_instance_uid, result: 'retry', reason: 'not in answer' });
        if (o.result === 'stored') {
          counts.stored++;
          await tx.query(`UPDATE outbox SET state = 'delivered', delivered_at = now(), last_error = NULL WHERE id = $1`, [row.id]);
        } else if (o.result === 'retry' && row.attempts < this.options.maxAttempts) {
          counts.retrying++;
          const delay = backoffMs(row.attempts, this.options, result.retryAfterMs);
          await tx.query(`UPDATE outbox SET next_attempt_at = now() + ($2::int * interval '1 millisecond'), last_error = $3 WHERE id = $1`, [
            row.id,
            Math.round(delay),
            o.reason ?? null,
          ]);
        } else {
          counts.failed++;
          const reason = o.result === 'retry' ? `gave up after ${row.attempts} attempts: ${o.reason ?? ''}` : (o.reason ?? 'rejected');
          await tx.query(`UPDATE outbox SET state = 'failed', last_error = $2 WHERE id = $1`, [row.id, reason]);
        }
      }
      if (withheld)
        for (const jobId of new Set(batch.map((b) => b.row.job_id))) {
          const [job] = (await tx.query(`SELECT priority FROM job WHERE id = $1`, [jobId])) as { priority: PriorityRank }[];
          await appendTriageEvent(tx, { kind: 'result.withheld', studyUid, jobId: Number(jobId), priority: job?.priority ?? PRIORITY.ROUTINE, payload: { error: WITHHELD } });
        }
      await appendAudit(tx, {
        actor: 'egress',
        action: withheld ? 'result.withheld' : 'result.deliver',
        outcome: counts.failed ? 'failure' : counts.retrying ? 'warning' : 'success',
        studyUid,
        objectUids: batch.map((b) => b.row.sop_instance_uid),
        detail: {
          target: this.target.description,
          deliverer: this.owner,
          httpStatus: result.httpStatus ?? null,
          error: result.error ?? null,
          attempt: Math.max(...batch.map((b) => b.row.attempts)),
          ms: Date.now() - started,
          ...counts,
        },
      });
    });
    round.stored += counts.stored;
    round.retrying += counts.retrying;
    round.failed += counts.failed;
    const level = counts.failed ? 'warn' : 'info';
    log[level]('result delivery attempt', { study: studyTag(studyUid), httpStatus: result.httpStatus, ...counts });
  }
}
