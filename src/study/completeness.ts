import type { DataSource } from 'typeorm';
import { appendAudit } from '../audit/audit-log';
import { metrics } from '../metrics';

/** A study that became complete and got a job. */
export interface ReadyStudy {
  studyUid: string;
  jobId: number;
  instances: number;
}

/**
 * A study is complete after `stableSeconds` with no new instance. Each such study moves to 'ready' and gets a
 * job row, in one transaction with its audit record. Rows are claimed with SKIP LOCKED, so several gateways can
 * run this at once without making two jobs for one study.
 */
export async function markStableStudies(ds: DataSource, stableSeconds: number, actor = 'gateway'): Promise<ReadyStudy[]> {
  return ds.transaction(async (tx) => {
    const due = (await tx.query(
      `SELECT study_uid, instance_count FROM study
        WHERE state = 'receiving' AND instance_count > 0 AND last_received_at <= now() - make_interval(secs => $1)
        ORDER BY last_received_at LIMIT 50 FOR UPDATE SKIP LOCKED`,
      [stableSeconds],
    )) as { study_uid: string; instance_count: number }[];
    const ready: ReadyStudy[] = [];
    for (const s of due) {
      await tx.query(`UPDATE study SET state = 'ready' WHERE study_uid = $1`, [s.study_uid]);
      const [{ id }] = (await tx.query(`INSERT INTO job (study_uid, state) VALUES ($1, 'ready') RETURNING id`, [s.study_uid])) as { id: string }[];
      await tx.query(`INSERT INTO triage_event (kind, study_uid, job_id, payload) VALUES ('study.received', $1, $2, $3)`, [
        s.study_uid,
        id,
        JSON.stringify({ instances: s.instance_count }),
      ]);
      await appendAudit(tx, {
        actor,
        action: 'study.ready',
        outcome: 'success',
        studyUid: s.study_uid,
        detail: { jobId: Number(id), instances: s.instance_count, stableSeconds },
      });
      ready.push({ studyUid: s.study_uid, jobId: Number(id), instances: s.instance_count });
    }
    metrics.studiesReady.inc(ready.length);
    return ready;
  });
}
