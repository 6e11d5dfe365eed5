import type { DataSource, EntityManager } from 'typeorm';
import { appendAudit } from '../audit/audit-log';
import { insertJob } from '../db/jobs';
import { isDatabaseUnavailable } from '../errors';
import { metrics } from '../metrics';
import { priorityName } from '../triage-priority';

/** A study that became complete and got a job. */
export interface ReadyStudy {
  studyUid: string;
  jobId: number;
  instances: number;
}

/**
 * A study is complete after `stableSeconds` with no new instance. Each such study moves to 'ready' and gets a
 * job row, in one transaction with its audit record. Rows are claimed with SKIP LOCKED, so several gateways can
 * run this at once without making two jobs for one study. `inFlight`: studies a request or association of this
 * process is still delivering, never complete however long their last instance is ago.
 */
export async function markStableStudies(dataSource: DataSource, stableSeconds: number, inFlight: string[] = [], actor = 'gateway'): Promise<ReadyStudy[]> {
  return dataSource.transaction(async (tx) => {
    const due = (await tx.query(
      `SELECT study_uid, instance_count FROM study
        WHERE state = 'receiving' AND instance_count > 0 AND last_received_at <= now() - make_interval(secs => $1)
          AND NOT (study_uid = ANY($2::text[]))
        ORDER BY last_received_at LIMIT 50 FOR UPDATE SKIP LOCKED`,
      [stableSeconds, inFlight],
    )) as { study_uid: string; instance_count: number }[];
    const ready: ReadyStudy[] = [];
    for (const s of due) ready.push(await openJob(tx, s.study_uid, s.instance_count, actor, { completedBy: 'quiet-period', stableSeconds }));
    return ready;
  });
}

/**
 * The completeness loop's step: markStableStudies, except that time the database was unreachable is no quiet time.
 * Senders were refused (503, retry later) and nothing could arrive, so once the database answers again every
 * receiving study's quiet period starts over: a study an outage interrupted is not called complete (and triaged
 * twice, once without its last instances) before its sender could resume.
 */
export function completenessCheck(dataSource: DataSource, stableSeconds: number, inFlight: () => string[] = () => []): () => Promise<ReadyStudy[]> {
  let unreachable = false;
  return async () => {
    try {
      if (unreachable) {
        await dataSource.query(`UPDATE study SET last_received_at = now() WHERE state = 'receiving'`);
        unreachable = false;
      }
      return await markStableStudies(dataSource, stableSeconds, inFlight());
    } catch (e) {
      if (isDatabaseUnavailable(e)) unreachable = true;
      throw e;
    }
  };
}

/** The rule that called a study complete: its quiet period passed, the PACS holds what we received, its pull ended, or a local folder was analysed. */
export type CompletedBy = 'quiet-period' | 'pacs-count' | 'pull' | 'local';

/**
 * Marks a study ready and gives it a new job, with its event and audit record (both naming the rule that completed
 * it), inside the caller's transaction. Used when the quiet period passes, when the PACS's count matches, and when
 * a pull ends (the pull is complete by construction).
 */
export async function openJob(
  tx: EntityManager,
  studyUid: string,
  instances: number,
  actor: string,
  detail: Record<string, unknown> & { completedBy: CompletedBy },
): Promise<ReadyStudy> {
  await tx.query(`UPDATE study SET state = 'ready' WHERE study_uid = $1`, [studyUid]);
  const { id, priority } = await insertJob(tx, studyUid, instances, detail.completedBy);
  await appendAudit(tx, { actor, action: 'study.ready', outcome: 'success', studyUid, detail: { jobId: id, instances, priority: priorityName(priority), ...detail } });
  metrics.studiesReady.inc();
  return { studyUid, jobId: id, instances };
}
