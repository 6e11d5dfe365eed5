import type { DataSource, EntityManager } from 'typeorm';
import { appendAudit } from '../audit/audit-log';
import { returnedRows } from '../db/jobs';
import { readSeriesHeaders, type InstanceHeader } from '../dicom/instance-header';
import type { InstanceInfo } from './part10';

/** How a received instance relates to what we already hold. */
export type StoreOutcome = 'stored' | 'duplicate' | 'conflict' | 'held-by-another-study' | 'study-full';

/** A received instance ready to be recorded. */
export interface ReceivedInstance extends InstanceInfo {
  spoolPath: string;
  sizeBytes: number;
  sha256: string;
}

/**
 * Records a received instance and its audit row in one transaction, so "recorded" and "audited" are never apart.
 * New instance: inserted, study (re)opened for completeness, unless the study already holds maxInstancesPerStudy
 * ('study-full': nothing recorded). Same UID and same bytes: nothing changes (idempotent).
 * Same UID, different bytes: the first copy stays, the new one is recorded as a conflict.
 */
function recordInstance(
  dataSource: DataSource,
  inst: ReceivedInstance,
  actor: string,
  source: 'push' | 'pull' | 'local',
  maxInstancesPerStudy: number,
): Promise<{ outcome: StoreOutcome; existingPath?: string }> {
  return dataSource.transaction((tx) => recordInTransaction(tx, inst, actor, source, maxInstancesPerStudy));
}

async function recordInTransaction(
  tx: EntityManager,
  inst: ReceivedInstance,
  actor: string,
  source: 'push' | 'pull' | 'local',
  maxInstancesPerStudy: number,
): Promise<{ outcome: StoreOutcome; existingPath?: string }> {
  await tx.query(`INSERT INTO study (study_uid, source) VALUES ($1, $2) ON CONFLICT (study_uid) DO NOTHING`, [inst.studyUid, source]);
  // The study row is locked here (this transaction updates it anyway), so concurrent senders cannot pass the cap together.
  const [{ instance_count: held }] = (await tx.query(`SELECT instance_count FROM study WHERE study_uid = $1 FOR UPDATE`, [inst.studyUid])) as { instance_count: number }[];
  if (held >= maxInstancesPerStudy) {
    const known = (await tx.query(`SELECT 1 FROM instance WHERE sop_instance_uid = $1`, [inst.sopInstanceUid])) as unknown[];
    if (known.length === 0) return { outcome: 'study-full' };
  }
  const inserted = (await tx.query(
    `INSERT INTO instance (sop_instance_uid, study_uid, series_uid, sop_class_uid, transfer_syntax_uid, modality, spool_path, size_bytes, sha256, requested_priority, header, patient_study)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (sop_instance_uid) DO NOTHING RETURNING sop_instance_uid`,
    [
      ...[inst.sopInstanceUid, inst.studyUid, inst.seriesUid, inst.sopClassUid, inst.transferSyntaxUid, inst.modality ?? null, inst.spoolPath, inst.sizeBytes, inst.sha256],
      ...[inst.requestedPriority ?? null, headerJson(inst.header), inst.header.patientStudy ?? null],
    ],
  )) as unknown[];
  if (inserted.length === 1) {
    // A new instance (re)opens the study: completeness restarts its quiet period. Our own results, echoed back
    // when the PACS re-sends the whole study, are kept but reopen nothing; a study being pulled stays 'pulling'
    // (its pull opens the job once it has everything, never the quiet period).
    const ours = ((await tx.query(`SELECT 1 FROM outbox WHERE sop_instance_uid = $1`, [inst.sopInstanceUid])) as unknown[]).length > 0;
    await tx.query(
      `UPDATE study SET instance_count = instance_count + 1, last_received_at = CASE WHEN $2 THEN last_received_at ELSE now() END,
              state = CASE WHEN $2 OR state = 'pulling' THEN state ELSE 'receiving' END WHERE study_uid = $1`,
      [inst.studyUid, ours],
    );
    await auditStored(tx, inst, actor);
    return { outcome: 'stored' as const };
  }
  const [existing] = (await tx.query(`SELECT study_uid, sha256, spool_path, purged_at FROM instance WHERE sop_instance_uid = $1`, [
    inst.sopInstanceUid,
  ])) as { study_uid: string; sha256: string; spool_path: string; purged_at: Date | null }[];
  if (existing.study_uid !== inst.studyUid) {
    // One UID, two studies: the instance could never be retrieved under the study it names, nor analysed with it.
    await appendAudit(tx, {
      actor,
      action: 'instance.refused',
      outcome: 'failure',
      studyUid: inst.studyUid,
      objectUids: [inst.sopInstanceUid],
      detail: { reason: 'SOP Instance UID already held by another study', sha256: inst.sha256 },
    });
    // Nor does it leave behind a study row of its own (one this transaction may just have made).
    await tx.query(`DELETE FROM study s WHERE study_uid = $1 AND instance_count = 0 AND NOT EXISTS (SELECT 1 FROM job j WHERE j.study_uid = s.study_uid)`, [inst.studyUid]);
    return { outcome: 'held-by-another-study' as const };
  }
  if (existing.sha256 === inst.sha256 && existing.purged_at !== null) {
    // Sent again after retention removed its file: the bytes are back, so the study is whole again and is reopened.
    await tx.query(`UPDATE instance SET spool_path = $2, purged_at = NULL, received_at = now(), header = $3, patient_study = $4 WHERE sop_instance_uid = $1`, [
      inst.sopInstanceUid,
      inst.spoolPath,
      headerJson(inst.header),
      inst.header.patientStudy ?? null,
    ]);
    await tx.query(`UPDATE study SET last_received_at = now(), state = CASE WHEN state = 'pulling' THEN state ELSE 'receiving' END WHERE study_uid = $1`, [
      inst.studyUid,
    ]);
    await auditStored(tx, inst, actor, { restored: true });
    return { outcome: 'stored' as const };
  }
  if (existing.sha256 === inst.sha256) {
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
    detail: { keptSha256: existing.sha256, receivedSha256: inst.sha256 },
  });
  return { outcome: 'conflict' as const, existingPath: existing.spool_path };
}

/** The audit row of an instance taken in (stored, or restored after retention removed its file). */
async function auditStored(tx: EntityManager, inst: ReceivedInstance, actor: string, extra: Record<string, unknown> = {}): Promise<void> {
  await appendAudit(tx, {
    actor,
    action: 'instance.stored',
    outcome: 'success',
    studyUid: inst.studyUid,
    objectUids: [inst.sopInstanceUid],
    detail: { series: inst.seriesUid, sopClass: inst.sopClassUid, bytes: inst.sizeBytes, sha256: inst.sha256, ...extra },
  });
}

/** A header as the `header` column holds it: everything but its path (spool_path) and Patient/Study elements (patient_study). */
function headerJson(h: InstanceHeader): string {
  return JSON.stringify({ ...h, path: undefined, patientStudy: undefined });
}

/**
 * The recorded headers of every instance the study has received and still holds (retention may have removed some),
 * as ingest parsed them. A row recorded before headers were (a gateway upgraded with studies in its spool) has its
 * file parsed now, once: the header is stored with the row; a file that cannot be read is tried again next time.
 */
export async function recordedHeaders(dataSource: DataSource, studyUid: string): Promise<InstanceHeader[]> {
  const rows = (await dataSource.query(`SELECT sop_instance_uid, spool_path, header, patient_study FROM instance WHERE study_uid = $1 AND purged_at IS NULL`, [studyUid])) as {
    sop_instance_uid: string;
    spool_path: string;
    header: Omit<InstanceHeader, 'path'> | null;
    patient_study: Buffer | null;
  }[];
  const legacy = rows.filter((r) => r.header === null);
  const parsed = await readSeriesHeaders(legacy.map((r) => r.spool_path));
  for (const [i, h] of parsed.entries()) {
    if (h.patientStudy === undefined) continue;
    await dataSource.query(`UPDATE instance SET header = $2, patient_study = $3 WHERE sop_instance_uid = $1 AND header IS NULL`, [legacy[i].sop_instance_uid, headerJson(h), h.patientStudy]);
  }
  const fresh = new Map(legacy.map((r, i) => [r, parsed[i]]));
  return rows.map((r) => fresh.get(r) ?? { ...r.header!, path: r.spool_path, ...(r.patient_study ? { patientStudy: r.patient_study } : {}) });
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
  private readonly maxBatch = 64;
  readonly maxInstancesPerStudy: number;

  /** maxInstancesPerStudy: LT_MAX_INSTANCES_PER_STUDY (unset: no cap). */
  constructor(
    private readonly dataSource: DataSource,
    o: { maxInstancesPerStudy?: number } = {},
  ) {
    this.maxInstancesPerStudy = o.maxInstancesPerStudy ?? Number.MAX_SAFE_INTEGER;
  }

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
        const results = await this.dataSource.transaction(async (tx) => {
          const out = [];
          for (const p of batch) out.push(await recordInTransaction(tx, p.inst, p.actor, p.source, this.maxInstancesPerStudy));
          return out;
        });
        batch.forEach((p, i) => p.resolve(results[i]));
      } catch {
        for (const p of batch) await recordInstance(this.dataSource, p.inst, p.actor, p.source, this.maxInstancesPerStudy).then(p.resolve, p.reject);
      }
    }
    this.flushing = false;
  }
}

/** Why retention removes a study's files: its job ended LT_SPOOL_RETAIN_SECONDS ago, or it reached LT_SPOOL_MAX_AGE_HOURS. */
export type PurgeReason = 'retained' | 'max_age';

/** Jobs that still need the spool: until a job has ended, its study's files stay whatever their age. */
const JOB_IN_PROGRESS = `('ready', 'selected', 'inferred', 'encoded')`;

/**
 * Studies whose spool files may go: not receiving, no job in progress, files still on disk, and either their
 * latest job delivered or failed for good at least `retainSeconds` ago, or last received `maxAgeHours` ago.
 */
export async function purgeableStudies(
  dataSource: DataSource,
  retainSeconds: number,
  maxAgeHours: number,
  limit = 100,
): Promise<{ studyUid: string; reason: PurgeReason }[]> {
  const rows = (await dataSource.query(
    `SELECT s.study_uid,
            CASE WHEN j.state IN ('delivered', 'failed') AND j.updated_at <= now() - make_interval(secs => $1) THEN 'retained' ELSE 'max_age' END AS reason
       FROM study s
       LEFT JOIN LATERAL (SELECT state, updated_at FROM job WHERE study_uid = s.study_uid ORDER BY id DESC LIMIT 1) j ON true
      WHERE s.state = 'ready'
        AND EXISTS (SELECT 1 FROM instance i WHERE i.study_uid = s.study_uid AND i.purged_at IS NULL)
        AND NOT EXISTS (SELECT 1 FROM job x WHERE x.study_uid = s.study_uid AND x.state IN ${JOB_IN_PROGRESS})
        AND ((j.state IN ('delivered', 'failed') AND j.updated_at <= now() - make_interval(secs => $1))
             OR s.last_received_at <= now() - make_interval(hours => $2))
      ORDER BY s.last_received_at LIMIT $3`,
    [retainSeconds, maxAgeHours, limit],
  )) as { study_uid: string; reason: PurgeReason }[];
  return rows.map((r) => ({ studyUid: r.study_uid, reason: r.reason }));
}

/**
 * Marks a study's spool files purged, with an audit row, and returns their paths for the caller to delete (a crash
 * before the deletion leaves unreferenced files, which the orphan sweep removes). The study row is locked and the
 * conditions checked again, so an instance or job arriving meanwhile keeps the files.
 */
export async function markStudyPurged(dataSource: DataSource, studyUid: string, reason: PurgeReason, actor: string): Promise<{ paths: string[]; bytes: number }> {
  return dataSource.transaction(async (tx) => {
    const held = (await tx.query(
      `SELECT 1 FROM study s WHERE s.study_uid = $1 AND s.state = 'ready'
          AND NOT EXISTS (SELECT 1 FROM job x WHERE x.study_uid = s.study_uid AND x.state IN ${JOB_IN_PROGRESS}) FOR UPDATE`,
      [studyUid],
    )) as unknown[];
    if (held.length === 0) return { paths: [], bytes: 0 };
    const instances = returnedRows<{ spool_path: string; size_bytes: string }>(
      // The recorded header goes with the file: its Patient/Study elements are as sensitive as the file was.
      await tx.query(`UPDATE instance SET purged_at = now(), header = NULL, patient_study = NULL WHERE study_uid = $1 AND purged_at IS NULL RETURNING spool_path, size_bytes`, [studyUid]),
    );
    const conflicts = returnedRows<{ spool_path: string }>(
      await tx.query(
        `UPDATE instance_conflict c SET purged_at = now() FROM instance i
          WHERE c.sop_instance_uid = i.sop_instance_uid AND i.study_uid = $1 AND c.purged_at IS NULL RETURNING c.spool_path`,
        [studyUid],
      ),
    );
    const bytes = instances.reduce((sum, r) => sum + Number(r.size_bytes), 0);
    if (instances.length + conflicts.length === 0) return { paths: [], bytes: 0 };
    await appendAudit(tx, {
      actor,
      action: 'spool.purged',
      outcome: 'success',
      studyUid,
      objectUids: [],
      detail: { reason, instances: instances.length, conflicts: conflicts.length, bytes },
    });
    return { paths: [...instances, ...conflicts].map((r) => r.spool_path), bytes };
  });
}

/** The paths among `paths` that a row still needs (an instance or kept conflict not purged). */
export async function referencedSpoolPaths(dataSource: DataSource, paths: string[]): Promise<Set<string>> {
  if (paths.length === 0) return new Set();
  const rows = (await dataSource.query(
    `SELECT spool_path FROM instance WHERE spool_path = ANY($1) AND purged_at IS NULL
     UNION SELECT spool_path FROM instance_conflict WHERE spool_path = ANY($1) AND purged_at IS NULL`,
    [paths],
  )) as { spool_path: string }[];
  return new Set(rows.map((r) => r.spool_path));
}

/** A file still recorded at a path that names the raw UID (the layout before hashed names). */
export interface LegacySpoolRow {
  table: 'instance' | 'instance_conflict';
  key: string;
  studyUid: string;
  sopInstanceUid: string;
  sha256: string;
  spoolPath: string;
}

/** Up to `limit` rows whose spool path still contains the study's raw UID. */
export async function legacySpoolRows(dataSource: DataSource, limit = 500): Promise<LegacySpoolRow[]> {
  const rows = (await dataSource.query(
    `SELECT 'instance' AS tbl, sop_instance_uid AS key, study_uid, sop_instance_uid, sha256, spool_path FROM instance
      WHERE purged_at IS NULL AND strpos(spool_path, '/' || study_uid || '/') > 0
     UNION ALL
     SELECT 'instance_conflict', c.id::text, i.study_uid, c.sop_instance_uid, c.sha256, c.spool_path FROM instance_conflict c
       JOIN instance i USING (sop_instance_uid)
      WHERE c.purged_at IS NULL AND strpos(c.spool_path, '/' || i.study_uid || '/') > 0
     LIMIT $1`,
    [limit],
  )) as { tbl: LegacySpoolRow['table']; key: string; study_uid: string; sop_instance_uid: string; sha256: string; spool_path: string }[];
  return rows.map((r) => ({ table: r.tbl, key: r.key, studyUid: r.study_uid, sopInstanceUid: r.sop_instance_uid, sha256: r.sha256, spoolPath: r.spool_path }));
}

/** Points a legacy row at its new path (only if it still points at the old one). */
export async function moveSpoolRow(dataSource: DataSource, row: LegacySpoolRow, newPath: string): Promise<void> {
  if (row.table === 'instance')
    await dataSource.query(`UPDATE instance SET spool_path = $3 WHERE sop_instance_uid = $1 AND spool_path = $2`, [row.key, row.spoolPath, newPath]);
  else await dataSource.query(`UPDATE instance_conflict SET spool_path = $3 WHERE id = $1 AND spool_path = $2`, [row.key, row.spoolPath, newPath]);
}
