import { createHash } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';

/** One audited step: who did what to which objects, and how it ended. Never carries PHI. */
export interface AuditEntry {
  actor: string;
  action: string;
  outcome: 'success' | 'failure' | 'warning';
  studyUid?: string;
  objectUids?: string[];
  detail?: Record<string, unknown>;
}

/** A stored audit row. */
export interface AuditRow extends Required<Omit<AuditEntry, 'studyUid'>> {
  id: number;
  at: Date;
  studyUid: string | null;
  prevHash: string;
  hash: string;
}

/** Result of walking the chain. */
export interface AuditVerification {
  ok: boolean;
  rows: number;
  headHash: string;
  firstBadId?: number;
  problem?: string;
}

export const GENESIS_HASH = '0'.repeat(64);
// Serialises writers so each row links to the one before it; held only for the insert.
const AUDIT_LOCK_KEY = 7_245_001;

/** JSON with object keys sorted at every level, so a row hashes the same after a round trip through jsonb. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** The hash of a row: sha256 over the previous hash and the canonical form of every column. */
export function rowHash(row: Omit<AuditRow, 'hash'>): string {
  const body = canonicalJson({
    id: row.id,
    at: row.at.toISOString(),
    actor: row.actor,
    action: row.action,
    outcome: row.outcome,
    studyUid: row.studyUid,
    objectUids: row.objectUids,
    detail: row.detail,
  });
  return createHash('sha256').update(`${row.prevHash}\n${body}`).digest('hex');
}

/**
 * Appends one entry inside the caller's transaction (so the audited change and its record commit together).
 * The advisory lock makes concurrent writers, across processes, take turns at the head of the chain.
 */
export async function appendAudit(tx: EntityManager, entry: AuditEntry): Promise<AuditRow> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK_KEY]);
  const [head] = (await tx.query('SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1')) as { hash: string }[];
  const [{ id }] = (await tx.query(`SELECT nextval('audit_log_id_seq')::bigint AS id`)) as { id: string }[];
  const row: Omit<AuditRow, 'hash'> = {
    id: Number(id),
    at: new Date(),
    actor: entry.actor,
    action: entry.action,
    outcome: entry.outcome,
    studyUid: entry.studyUid ?? null,
    objectUids: entry.objectUids ?? [],
    detail: entry.detail ?? {},
    prevHash: head?.hash ?? GENESIS_HASH,
  };
  const hash = rowHash(row);
  await tx.query(
    `INSERT INTO audit_log (id, at, actor, action, outcome, study_uid, object_uids, detail, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [row.id, row.at, row.actor, row.action, row.outcome, row.studyUid, row.objectUids, JSON.stringify(row.detail), row.prevHash, hash],
  );
  return { ...row, hash };
}

/** Appends one entry in its own transaction. */
export function audit(ds: DataSource, entry: AuditEntry): Promise<AuditRow> {
  return ds.transaction((tx) => appendAudit(tx, entry));
}

interface DbRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  outcome: AuditRow['outcome'];
  study_uid: string | null;
  object_uids: string[];
  detail: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

function fromDb(r: DbRow): AuditRow {
  return {
    id: Number(r.id),
    at: r.at,
    actor: r.actor,
    action: r.action,
    outcome: r.outcome,
    studyUid: r.study_uid,
    objectUids: r.object_uids,
    detail: r.detail,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/** Reads audit rows, newest last, optionally for one study, after a given id. */
export async function readAudit(ds: DataSource, opts: { studyUid?: string; afterId?: number; limit?: number } = {}): Promise<AuditRow[]> {
  const rows = (await ds.query(
    `SELECT * FROM audit_log WHERE ($1::text IS NULL OR study_uid = $1) AND id > $2 ORDER BY id LIMIT $3`,
    [opts.studyUid ?? null, opts.afterId ?? 0, Math.min(opts.limit ?? 1000, 10000)],
  )) as DbRow[];
  return rows.map(fromDb);
}

/**
 * Walks the whole chain in id order and names the first row whose content no longer matches its hash,
 * or whose link to the previous row is broken (a row edited, inserted or deleted behind the trigger's back).
 */
export async function verifyAuditChain(ds: DataSource, batch = 2000): Promise<AuditVerification> {
  let prev = GENESIS_HASH;
  let rows = 0;
  let after = 0;
  for (;;) {
    const page = (await ds.query('SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2', [after, batch])) as DbRow[];
    if (page.length === 0) return { ok: true, rows, headHash: prev };
    for (const r of page.map(fromDb)) {
      if (r.prevHash !== prev) return { ok: false, rows, headHash: prev, firstBadId: r.id, problem: 'does not link to the previous row (a row was removed or inserted)' };
      if (rowHash(r) !== r.hash) return { ok: false, rows, headHash: prev, firstBadId: r.id, problem: 'content does not match its hash (the row was changed)' };
      prev = r.hash;
      rows++;
      after = r.id;
    }
  }
}
