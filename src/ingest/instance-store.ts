import type { DataSource, EntityManager } from 'typeorm';
import { appendAudit } from '../audit/audit-log';
import type { InstanceInfo } from './part10';

/** How a received instance relates to what we already hold. */
export type StoreOutcome = 'stored' | 'duplicate' | 'conflict';

/** A received instance ready to be recorded. */
export interface ReceivedInstance extends InstanceInfo {
  spoolPath: string;
  sizeBytes: number;
  sha256: string;
}

/**
 * Records a received instance and its audit row in one transaction, so "recorded" and "audited" are never apart.
 * New instance: inserted, study (re)opened for completeness. Same UID and same bytes: nothing changes (idempotent).
 * Same UID, different bytes: the first copy stays, the new one is recorded as a conflict.
 */
export async function recordInstance(
  ds: DataSource,
  inst: ReceivedInstance,
  actor: string,
  source: 'push' | 'pull' | 'local' = 'push',
): Promise<{ outcome: StoreOutcome; existingPath?: string }> {
  return ds.transaction((tx) => recordInTransaction(tx, inst, actor, source));
}

async function recordInTransaction(
  tx: EntityManager,
  inst: ReceivedInstance,
  actor: string,
  source: 'push' | 'pull' | 'local',
): Promise<{ outcome: StoreOutcome; existingPath?: string }> {
  await tx.query(`INSERT INTO study (study_uid, source) VALUES ($1, $2) ON CONFLICT (study_uid) DO NOTHING`, [inst.studyUid, source]);
  const inserted = (await tx.query(
    `INSERT INTO instance (sop_instance_uid, study_uid, series_uid, sop_class_uid, transfer_syntax_uid, modality, spool_path, size_bytes, sha256, requested_priority)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (sop_instance_uid) DO NOTHING RETURNING sop_instance_uid`,
    [inst.sopInstanceUid, inst.studyUid, inst.seriesUid, inst.sopClassUid, inst.transferSyntaxUid, inst.modality ?? null, inst.spoolPath, inst.sizeBytes, inst.sha256, inst.requestedPriority ?? null],
  )) as unknown[];
  if (inserted.length === 1) {
    // A new instance (re)opens the study: completeness restarts its quiet period. Our own results, echoed back
    // when the PACS re-sends the whole study, are kept but reopen nothing.
    const ours = ((await tx.query(`SELECT 1 FROM outbox WHERE sop_instance_uid = $1`, [inst.sopInstanceUid])) as unknown[]).length > 0;
    await tx.query(
      `UPDATE study SET instance_count = instance_count + 1, last_received_at = CASE WHEN $2 THEN last_received_at ELSE now() END,
              state = CASE WHEN $2 THEN state ELSE 'receiving' END WHERE study_uid = $1`,
      [inst.studyUid, ours],
    );
    await appendAudit(tx, {
      actor,
      action: 'instance.stored',
      outcome: 'success',
      studyUid: inst.studyUid,
      objectUids: [inst.sopInstanceUid],
      detail: { series: inst.seriesUid, sopClass: inst.sopClassUid, bytes: inst.sizeBytes, sha256: inst.sha256 },
    });
    return { outcome: 'stored' as const };
  }
  const [existing] = (await tx.query(`SELECT study_uid, sha256, spool_path FROM instance WHERE sop_instance_uid = $1`, [
    inst.sopInstanceUid,
  ])) as { study_uid: string; sha256: string; spool_path: string }[];
  if (existing.sha256 === inst.sha256 && existing.study_uid === inst.studyUid) {
    await appendAudit(tx, {
      actor,
      action: 'instance.duplicate',
      outcome: 'success',
      studyUid: inst.studyUid,
      objectUids: [inst.sopInstanceUid],
      detail: { sha256: inst.sha256 },
    });
    return { outcome: 'duplicate' as const, existingPath: existing.spool_path };
  }
  await tx.query(`INSERT INTO instance_conflict (sop_instance_uid, spool_path, sha256) VALUES ($1, $2, $3)`, [
    inst.sopInstanceUid,
    inst.spoolPath,
    inst.sha256,
  ]);
  await appendAudit(tx, {
    actor,
    action: 'instance.conflict',
    outcome: 'warning',
    studyUid: inst.studyUid,
    objectUids: [inst.sopInstanceUid],
    detail: { keptSha256: existing.sha256, receivedSha256: inst.sha256, sameStudy: existing.study_uid === inst.studyUid },
  });
  return { outcome: 'conflict' as const, existingPath: existing.spool_path };
}

interface Pending {
  inst: ReceivedInstance;
  actor: string;
  source: 'push' | 'pull' | 'local';
  resolve: (r: { outcome: StoreOutcome; existingPath?: string }) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit for received instances: instances that finish while a commit is in progress are recorded together
 * in the next transaction, so one WAL flush (and one turn at the audit chain's lock) serves many instances.
 * Each caller still learns only after its own row is committed. A failed batch is retried one instance at a time,
 * so one bad row never fails its neighbours.
 */
export class InstanceRecorder {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly ds: DataSource,
    private readonly maxBatch = 64,
  ) {}

  /** Records one instance; resolves once its transaction has committed. */
  record(inst: ReceivedInstance, actor: string, source: 'push' | 'pull' | 'local' = 'push'): Promise<{ outcome: StoreOutcome; existingPath?: string }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ inst, actor, source, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.ds.transaction(async (tx) => {
          const out = [];
          for (const p of batch) out.push(await recordInTransaction(tx, p.inst, p.actor, p.source));
          return out;
        });
        batch.forEach((p, i) => p.resolve(results[i]));
      } catch {
        for (const p of batch) await recordInstance(this.ds, p.inst, p.actor, p.source).then(p.resolve, p.reject);
      }
    }
    this.flushing = false;
  }
}
