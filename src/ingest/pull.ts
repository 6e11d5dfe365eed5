import type { DataSource } from 'typeorm';
import { appendAudit } from '../audit/audit-log';
import { appendTriageEvent, LEASE_OWNER, returnedRows } from '../db/jobs';
import { isValidUid } from '../dicom/uid';
import { PacsDicomWebClient } from '../dicom/dicomweb';
import { createPacsAuth, pacsHttpsAgent, type PacsConfig } from '../dicom/pacs-auth';
import { Tags, tagKey } from '../dicom/tags';
import { LtError } from '../errors';
import { log, studyTag } from '../logger';
import { metrics } from '../metrics';
import { openJob } from '../study/completeness';
import { PRIORITY } from '../triage-priority';
import { acceptInstanceFile, writeFailure, type AcceptDeps } from './accept';
import type { PartOutcome } from './stow-response';

/** Default time limit of each PACS request during a pull. */
export const PULL_TIMEOUT_MS = 120_000;

/** Default time limit of the instance query that requestPull answers after (SubmitStudy waits for it). */
export const LIST_TIMEOUT_MS = 30_000;

/** Who asked for a pull: an operator (SubmitStudy) or reconciliation (a study that never reached us). */
export type PullOrigin = 'submit' | 'reconcile';

/** What a pull needs: the store (the accept path every instance takes), and the PACS (with its CA, LT_PACS_CA) and a per-request time limit. */
export interface PullDeps extends AcceptDeps {
  dataSource: DataSource;
  pacs?: PacsConfig;
  /** Time limit of each QIDO-RS / WADO-RS request (default {@link PULL_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** A DICOMweb client to the PACS with its auth, CA and a time limit on each request. */
export async function pacsClient(pacs: PacsConfig, timeoutMs: number): Promise<PacsDicomWebClient> {
  const httpsAgent = pacsHttpsAgent(pacs);
  const authorization = await createPacsAuth(pacs, httpsAgent).authorization();
  return new PacsDicomWebClient({ url: pacs.url, headers: authorization ? { Authorization: authorization } : {}, httpsAgent, timeoutMs });
}

type InstanceRef = { seriesInstanceUID: string; sopInstanceUID: string };

/** The study's instances as the PACS lists them (QIDO-RS): UNAVAILABLE when it does not answer, NOT_FOUND when empty. */
async function listInstances(client: PacsDicomWebClient, studyUid: string): Promise<InstanceRef[]> {
  let listing: Record<string, { Value?: unknown[] }>[];
  try {
    listing = await client.searchForInstances({ studyInstanceUID: studyUid });
  } catch (e) {
    throw LtError.unavailable(`the PACS did not answer the instance query: ${describePacsError(e)}`);
  }
  const refs: InstanceRef[] = [];
  for (const item of Array.isArray(listing) ? listing : []) {
    const seriesInstanceUID = item[tagKey(Tags.SeriesInstanceUID)]?.Value?.[0];
    const sopInstanceUID = item[tagKey(Tags.SOPInstanceUID)]?.Value?.[0];
    if (typeof seriesInstanceUID === 'string' && typeof sopInstanceUID === 'string' && seriesInstanceUID && sopInstanceUID) refs.push({ seriesInstanceUID, sopInstanceUID });
  }
  if (refs.length === 0) throw LtError.notFound('the PACS has no instances for this study');
  return refs;
}

/**
 * Records that a study is to be pulled, and returns without retrieving it: the PACS is asked for the study's
 * instances (QIDO-RS, so a study it does not hold is NOT_FOUND and a PACS that does not answer UNAVAILABLE, at
 * once), the study becomes 'pulling' (the quiet period leaves it alone) with its `study_pull` row, a
 * `study.pulling` event and an audit row, in one transaction. A {@link Puller} then retrieves it. Asking again
 * while a pull runs changes nothing but who asked; asking after one ended pulls again (instances held are kept).
 */
export async function requestPull(deps: PullDeps, studyUid: string, actor: string, origin: PullOrigin): Promise<{ expected: number }> {
  if (!isValidUid(studyUid)) throw LtError.invalid('study_instance_uid is not a valid UID');
  if (!deps.pacs) throw LtError.conflict('no PACS is configured (LT_PACS_URL): a study can only be pushed');
  const refs = await listInstances(await pacsClient(deps.pacs, deps.timeoutMs ?? LIST_TIMEOUT_MS), studyUid);
  await deps.dataSource.transaction(async (tx) => {
    await tx.query(`INSERT INTO study (study_uid, source, state) VALUES ($1, 'pull', 'pulling') ON CONFLICT (study_uid) DO UPDATE SET state = 'pulling'`, [studyUid]);
    // A pull in progress keeps its lease and goes on; a failed one starts over.
    await tx.query(
      `INSERT INTO study_pull (study_uid, origin, requested_by, expected) VALUES ($1, $2, $3, $4)
       ON CONFLICT (study_uid) DO UPDATE SET origin = $2, requested_by = $3, requested_at = now(), expected = $4, attempts = 0, next_run_at = now(), error = NULL`,
      [studyUid, origin, actor, refs.length],
    );
    await appendTriageEvent(tx, { kind: 'study.pulling', studyUid, jobId: null, priority: PRIORITY.ROUTINE, payload: { instances: refs.length } });
    await appendAudit(tx, { actor, action: 'study.pull_requested', outcome: 'success', studyUid, detail: { origin, instances: refs.length } });
  });
  log.info('pull requested', { study: studyTag(studyUid), origin, instances: refs.length });
  return { expected: refs.length };
}

/** A pull taken by this gateway. */
interface ClaimedPull {
  studyUid: string;
  origin: PullOrigin;
  actor: string;
  attempts: number;
}

/** A pull that ended with its study's job open. */
export interface PullResult {
  studyUid: string;
  jobId: number;
  /** Instances retrieved by this run; `held` were already here (a resumed pull, or pushed meanwhile). */
  retrieved: number;
  held: number;
  failed: PartOutcome[];
  origin: PullOrigin;
}

/** Backoff of a pull whose PACS or store failed: 5 s, doubling with each attempt, at most 5 min. */
export const pullRetryDelayMs = (attempts: number) => Math.min(300_000, 5_000 * 2 ** Math.max(0, attempts - 1));

/**
 * Runs the recorded pulls in the background, one at a time per gateway. A pull is claimed under a lease (FOR UPDATE
 * SKIP LOCKED; renewed after each instance) so gateways sharing a database never run one twice and a gateway killed
 * mid-pull has its pull taken over once the lease runs out. Each run lists the study again (QIDO-RS), retrieves
 * only the instances not already held (WADO-RS, one at a time so memory stays bounded) through the same accept path
 * as STOW-RS, and then opens the job in the transaction that ends the pull: the study is never ready half-pulled.
 * A PACS that does not answer, a full disk or an unreachable database is retried with backoff; a study the PACS no
 * longer holds, or none of whose instances can be stored, ends 'pull_failed' with a `study.failed` event.
 */
export class Puller {
  private stopping = false;

  constructor(
    private readonly deps: PullDeps & { leaseSeconds: number },
    private readonly owner = LEASE_OWNER,
  ) {}

  /** Claims one due pull and runs it; the result when it ended with a job, undefined when none was due or it did not end. */
  async runOnce(): Promise<{ ran: boolean; result?: PullResult }> {
    if (this.stopping) return { ran: false };
    const pull = await this.claim();
    if (!pull) return { ran: false };
    try {
      return { ran: true, result: await this.run(pull) };
    } catch (e) {
      await this.failed(pull, e);
      return { ran: true };
    }
  }

  /** Stops after the instance being retrieved (gateway shutdown): no new pull is claimed, the one running is handed back. */
  stop(): void {
    this.stopping = true;
  }

  private async claim(): Promise<ClaimedPull | undefined> {
    const rows = (await this.deps.dataSource.query(
      `UPDATE study_pull SET lease_owner = $1, lease_until = now() + make_interval(secs => $2), attempts = attempts + 1
        WHERE study_uid = (SELECT p.study_uid FROM study_pull p JOIN study s USING (study_uid)
                            WHERE s.state = 'pulling' AND p.next_run_at <= now() AND (p.lease_until IS NULL OR p.lease_until < now())
                            ORDER BY p.requested_at FOR UPDATE OF p SKIP LOCKED LIMIT 1)
        RETURNING study_uid, origin, requested_by, attempts`,
      [this.owner, this.deps.leaseSeconds],
    )) as unknown;
    const [row] = returnedRows<{ study_uid: string; origin: PullOrigin; requested_by: string; attempts: number }>(rows);
    return row && { studyUid: row.study_uid, origin: row.origin, actor: row.requested_by, attempts: row.attempts };
  }

  /** Extends the lease; false when it was lost (another gateway took the pull over, or it was asked for again and ended). */
  private async renew(studyUid: string): Promise<boolean> {
    const rows = (await this.deps.dataSource.query(
      `UPDATE study_pull SET lease_until = now() + make_interval(secs => $3) WHERE study_uid = $1 AND lease_owner = $2 RETURNING study_uid`,
      [studyUid, this.owner, this.deps.leaseSeconds],
    )) as unknown;
    return returnedRows(rows).length > 0;
  }

  private async run(pull: ClaimedPull): Promise<PullResult | undefined> {
    const { deps } = this;
    const { studyUid, actor } = pull;
    if (!deps.pacs) throw LtError.conflict('no PACS is configured (LT_PACS_URL)');
    const client = await pacsClient(deps.pacs, deps.timeoutMs ?? PULL_TIMEOUT_MS);
    const refs = await listInstances(client, studyUid);
    await deps.dataSource.query(`UPDATE study_pull SET expected = $2 WHERE study_uid = $1`, [studyUid, refs.length]);
    const held = new Set(
      ((await deps.dataSource.query(`SELECT sop_instance_uid FROM instance WHERE study_uid = $1 AND purged_at IS NULL`, [studyUid])) as { sop_instance_uid: string }[]).map(
        (r) => r.sop_instance_uid,
      ),
    );
    const failed: PartOutcome[] = [];
    let retrieved = 0;
    for (const ref of refs) {
      if (held.has(ref.sopInstanceUID)) continue;
      let bytes: Buffer;
      try {
        bytes = Buffer.from(await client.retrieveInstance({ studyInstanceUID: studyUid, ...ref }));
      } catch (e) {
        throw LtError.unavailable(`WADO-RS retrieve failed: ${describePacsError(e)}`);
      }
      const incoming = await deps.spool.incoming();
      let outcome: PartOutcome;
      try {
        await incoming.write(bytes);
        const sha256 = await incoming.finish();
        outcome = await acceptInstanceFile(deps, { path: incoming.path, size: incoming.size, sha256 }, { actor, expectedStudyUid: studyUid, source: 'pull' });
      } catch (e) {
        await incoming.discard();
        outcome = { sopInstanceUid: ref.sopInstanceUID, ...writeFailure(e) };
      }
      // Disk full, database away: this run stops and the next resumes from what is held.
      if (outcome.transient) throw LtError.unavailable(`an instance could not be stored: ${outcome.message ?? 'out of resources'}`);
      if (outcome.failureReason !== undefined) failed.push(outcome);
      else retrieved++;
      if (this.stopping) {
        // Shutting down: hand the pull back at once (not after the lease), to be resumed by the next gateway.
        await deps.dataSource.query(`UPDATE study_pull SET lease_owner = NULL, lease_until = NULL WHERE study_uid = $1 AND lease_owner = $2`, [studyUid, this.owner]);
        return undefined;
      }
      if (!(await this.renew(studyUid))) return undefined;
    }
    const alreadyHeld = refs.filter((r) => held.has(r.sopInstanceUID)).length;
    if (retrieved + alreadyHeld === 0) throw LtError.invalid(`none of the study's ${refs.length} instances could be stored`);
    const job = await deps.dataSource.transaction(async (tx) => {
      const [s] = (await tx.query(
        `SELECT s.instance_count FROM study s JOIN study_pull p USING (study_uid) WHERE s.study_uid = $1 AND p.lease_owner = $2 FOR UPDATE OF s, p`,
        [studyUid, this.owner],
      )) as { instance_count: number }[];
      if (!s) return undefined; // the lease was lost while the last instance was stored
      await tx.query(`DELETE FROM study_pull WHERE study_uid = $1`, [studyUid]);
      const opened = await openJob(tx, studyUid, s.instance_count, actor, { completedBy: 'pull', pulled: retrieved, alreadyHeld, origin: pull.origin });
      if (pull.origin === 'reconcile')
        await appendTriageEvent(tx, { kind: 'study.recovered', studyUid, jobId: opened.jobId, priority: PRIORITY.ROUTINE, payload: { instances: s.instance_count } });
      return opened;
    });
    if (!job) return undefined;
    if (pull.origin === 'reconcile') metrics.studiesRecovered.inc();
    log.info('study pulled from the PACS', { study: studyTag(studyUid), origin: pull.origin, retrieved, alreadyHeld, failed: failed.length });
    return { studyUid, jobId: job.jobId, retrieved, held: alreadyHeld, failed, origin: pull.origin };
  }

  /** A run that threw: retried with backoff when the fault may pass, else the study ends 'pull_failed'. */
  private async failed(pull: ClaimedPull, e: unknown): Promise<void> {
    const err = e instanceof LtError ? e : LtError.unavailable((e as Error)?.message ?? String(e));
    // Not found, nothing storable, no PACS: trying again cannot help.
    const permanent = [400, 404, 409].includes(err.httpStatus);
    const { studyUid } = pull;
    if (!permanent) {
      const delayMs = pullRetryDelayMs(pull.attempts);
      log.warn('pull failed; retrying', { study: studyTag(studyUid), attempt: pull.attempts, retryInSeconds: delayMs / 1000, reason: err.message });
      await this.deps.dataSource.query(
        `UPDATE study_pull SET error = $3, next_run_at = now() + make_interval(secs => $4), lease_owner = NULL, lease_until = NULL WHERE study_uid = $1 AND lease_owner = $2`,
        [studyUid, this.owner, `retrying: ${err.message}`, delayMs / 1000],
      );
      return;
    }
    log.warn('pull failed for good', { study: studyTag(studyUid), reason: err.message });
    await this.deps.dataSource.transaction(async (tx) => {
      const rows = (await tx.query(`UPDATE study_pull SET error = $3, lease_owner = NULL, lease_until = NULL WHERE study_uid = $1 AND lease_owner = $2 RETURNING study_uid`, [
        studyUid,
        this.owner,
        err.message,
      ])) as unknown;
      if (returnedRows(rows).length === 0) return;
      await tx.query(`UPDATE study SET state = 'pull_failed' WHERE study_uid = $1 AND state = 'pulling'`, [studyUid]);
      await appendTriageEvent(tx, { kind: 'study.failed', studyUid, jobId: null, priority: PRIORITY.ROUTINE, payload: { error: err.message } });
      await appendAudit(tx, { actor: pull.actor, action: 'study.pull_failed', outcome: 'failure', studyUid, detail: { reason: err.message } });
    });
  }
}

/** A PACS request failure in words (status, or why there was no answer). */
export function describePacsError(e: unknown): string {
  const x = e as { status?: number; message?: string };
  if (x?.status) return `HTTP ${x.status}`;
  // Status 0 with dicomweb-client's 'request failed': no HTTP answer at all (xhr2 does not keep the cause).
  if (x?.message === 'request failed') return 'no answer (connection refused or reset, or a TLS certificate not trusted: check LT_PACS_CA)';
  return (x?.message ?? 'error').slice(0, 200);
}
