import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { DataSource, EntityManager } from 'typeorm';
import { log } from '../logger';

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

/** One problem the verification found, by row id. */
export interface AuditProblem {
  id: number;
  problem: string;
}

/** Result of walking the chain. */
export interface AuditVerification {
  ok: boolean;
  rows: number;
  headHash: string;
  /** The first problem's row (in id order) and what is wrong with it. */
  firstBadId?: number;
  problem?: string;
  /** Every problem found (at most {@link MAX_PROBLEMS}): one bad row never hides the rows after it. */
  problems: AuditProblem[];
  /** Signed checkpoints checked against the chain. */
  checkpoints: number;
}

/**
 * What keys and anchors a database's audit chain, outside the database: the HMAC key (LT_AUDIT_KEY) and the file the
 * signed checkpoints of the chain's head are appended to. Bound to a DataSource once, by openDatabase.
 */
export interface AuditAnchor {
  readonly key: Buffer;
  checkpointFile: string;
}

export const GENESIS_HASH = '0'.repeat(64);
const MAX_PROBLEMS = 100;
const anchors = new WeakMap<DataSource, AuditAnchor>();

/** Binds the key and checkpoint file that appendAudit, verifyAuditChain and the checkpoints use for this database. */
export function bindAuditAnchor(dataSource: DataSource, anchor: AuditAnchor): void {
  anchors.set(dataSource, anchor);
}

/** Fewest characters an LT_AUDIT_KEY may have (a 256-bit key written as hex or base64 is longer). */
export const MIN_AUDIT_KEY_CHARS = 32;

/**
 * The anchor for a data dir: the configured key (LT_AUDIT_KEY), else the per-install key file `<dataDir>/audit.key`,
 * generated on first use (0600): the embedded default. Checkpoints go to `<dataDir>/audit-checkpoints.jsonl` unless
 * a file is configured.
 */
export function auditAnchorFor(dataDir: string, configured: { key?: string; checkpointFile?: string } = {}): AuditAnchor {
  const checkpointFile = path.resolve(configured.checkpointFile ?? path.join(dataDir, 'audit-checkpoints.jsonl'));
  if (configured.key) return { key: Buffer.from(configured.key, 'utf8'), checkpointFile };
  let key: Buffer | undefined;
  return {
    checkpointFile,
    // Read (or made) on first use: `lung-triage migrate` in a read-only container never needs it.
    get key(): Buffer {
      return (key ??= perInstallKey(path.join(path.resolve(dataDir), 'audit.key')));
    },
  };
}

function perInstallKey(file: string): Buffer {
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const key = readFileSync(file, 'utf8').trim();
  if (key.length < MIN_AUDIT_KEY_CHARS) throw new Error(`${file} holds no audit key (fewer than ${MIN_AUDIT_KEY_CHARS} characters)`);
  return Buffer.from(key, 'utf8');
}

/** The anchor bound to a database (openDatabase binds one to every database it opens). */
export function auditAnchorOf(dataSource: DataSource): AuditAnchor {
  const a = anchors.get(dataSource);
  if (!a) throw new Error('no audit key bound to this database (open it with openDatabase)');
  return a;
}

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

function rowBody(row: Omit<AuditRow, 'hash'>): string {
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
  return `${row.prevHash}\n${body}`;
}

/** The unkeyed hash of a row from before the keyed chain: sha256 over the previous hash and every column. */
export function rowHash(row: Omit<AuditRow, 'hash'>): string {
  return createHash('sha256').update(rowBody(row)).digest('hex');
}

/** The MAC of a row: HMAC-SHA256 under the audit key over the previous row's MAC and every column. */
export function rowMac(key: Buffer, row: Omit<AuditRow, 'hash'>): string {
  return createHmac('sha256', key).update(rowBody(row)).digest('hex');
}

/**
 * Appends one entry inside the caller's transaction (so the audited change and its record commit together).
 * The server assigns the id, the time and the link (audit_reserve(), which also makes concurrent writers, across
 * processes, take turns at the head); the row is keyed with the audit key, which the database never sees.
 */
export async function appendAudit(tx: EntityManager, entry: AuditEntry): Promise<AuditRow> {
  const { key } = auditAnchorOf(tx.connection);
  const [slot] = (await tx.query('SELECT id, at, prev_hash FROM audit_reserve()')) as { id: string; at: Date; prev_hash: string }[];
  const row: Omit<AuditRow, 'hash'> = {
    id: Number(slot.id),
    at: slot.at,
    actor: entry.actor,
    action: entry.action,
    outcome: entry.outcome,
    studyUid: entry.studyUid ?? null,
    objectUids: entry.objectUids ?? [],
    detail: entry.detail ?? {},
    prevHash: slot.prev_hash,
  };
  const hash = rowMac(key, row);
  await tx.query(
    `INSERT INTO audit_log (id, at, actor, action, outcome, study_uid, object_uids, detail, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [row.id, row.at, row.actor, row.action, row.outcome, row.studyUid, row.objectUids, JSON.stringify(row.detail), row.prevHash, hash],
  );
  return { ...row, hash };
}

/** Appends one entry in its own transaction. */
export function audit(dataSource: DataSource, entry: AuditEntry): Promise<AuditRow> {
  return dataSource.transaction((tx) => appendAudit(tx, entry));
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
export async function readAudit(dataSource: DataSource, opts: { studyUid?: string; afterId?: number; limit?: number } = {}): Promise<AuditRow[]> {
  const rows = (await dataSource.query(
    `SELECT * FROM audit_log WHERE ($1::text IS NULL OR study_uid = $1) AND id > $2 ORDER BY id LIMIT $3`,
    [opts.studyUid ?? null, opts.afterId ?? 0, Math.min(opts.limit ?? 1000, 10000)],
  )) as DbRow[];
  return rows.map(fromDb);
}

/** The head the database records (audit_head): the last row appended and the first keyed id. */
async function readHead(dataSource: DataSource): Promise<{ id: number; hash: string; keyedFrom: number }> {
  const [h] = (await dataSource.query('SELECT id, hash, keyed_from FROM audit_head')) as { id: string; hash: string; keyed_from: string }[];
  return { id: Number(h.id), hash: h.hash, keyedFrom: Number(h.keyed_from) };
}

/**
 * Walks the whole chain in id order and lists every row that does not verify: content that no longer matches its MAC
 * (changed, or forged without the key), a broken link (a row removed before it, or slipped in), a row after the
 * recorded head, and rows named by the database's head or by a signed checkpoint that are gone or different (a cut
 * tail). Each row is judged on its own link, so one bad row (a huge id included) does not fail the rows after it.
 */
export async function verifyAuditChain(dataSource: DataSource, batch = 2000): Promise<AuditVerification> {
  const { key, checkpointFile } = auditAnchorOf(dataSource);
  const head = await readHead(dataSource);
  const checkpoints = readCheckpoints(key, checkpointFile);
  const problems: AuditProblem[] = checkpoints.invalid.map((c) => ({ id: c.id, problem: `checkpoint of ${c.at} in ${checkpointFile} is not signed with the audit key` }));
  const expected = new Map<number, { hash: string; by: string }>([[head.id, { hash: head.hash, by: 'the database head (audit_head)' }]]);
  for (const c of checkpoints.valid) expected.set(c.id, { hash: c.hash, by: `the signed checkpoint of ${c.at}` });
  expected.delete(0);
  let prev = GENESIS_HASH;
  let lastGenuine = GENESIS_HASH;
  let headHash = GENESIS_HASH;
  let rows = 0;
  let after = -1;
  const bad = (id: number, problem: string) => void (problems.length < MAX_PROBLEMS && problems.push({ id, problem }));
  for (;;) {
    const page = (await dataSource.query('SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2', [after, batch])) as DbRow[];
    if (page.length === 0) break;
    for (const r of page.map(fromDb)) {
      after = r.id;
      rows++;
      const { hash, ...content } = r;
      const keyed = r.id >= head.keyedFrom;
      const genuine = (keyed ? rowMac(key, content) : rowHash(content)) === hash;
      if (!genuine) bad(r.id, keyed ? 'content does not match its MAC (changed, or written without the audit key)' : 'content does not match its hash (the row was changed)');
      // Linking to the last genuine row is fine: the rows slipped in between are named on their own.
      if (r.id > head.id) bad(r.id, 'comes after the last row the database recorded appending (slipped in behind the trigger)');
      else if (r.prevHash !== prev && r.prevHash !== lastGenuine) bad(r.id, 'does not link to the previous row (a row before it was removed, or this one inserted)');
      if (genuine) lastGenuine = hash;
      const want = expected.get(r.id);
      if (want) {
        if (want.hash !== hash) bad(r.id, `differs from the row named by ${want.by}`);
        expected.delete(r.id);
      }
      prev = hash;
      if (r.id <= head.id) headHash = hash;
    }
  }
  for (const [id, want] of expected) bad(id, `is missing: named by ${want.by} (the tail of the chain was cut)`);
  problems.sort((a, b) => a.id - b.id);
  const first = problems[0];
  return { ok: problems.length === 0, rows, headHash, firstBadId: first?.id, problem: first?.problem, problems, checkpoints: checkpoints.valid.length };
}

/** A signed record of the chain's head, kept outside the database (a file in the data dir, and the log). */
export interface AuditCheckpoint {
  id: number;
  hash: string;
  at: string;
  sig: string;
}

function checkpointSig(key: Buffer, c: Omit<AuditCheckpoint, 'sig'>): string {
  return createHmac('sha256', key).update(`lung-triage audit checkpoint\n${c.id}\n${c.hash}\n${c.at}`).digest('hex');
}

function readCheckpoints(key: Buffer, file: string): { valid: AuditCheckpoint[]; invalid: AuditCheckpoint[] } {
  const out = { valid: [] as AuditCheckpoint[], invalid: [] as AuditCheckpoint[] };
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let c: AuditCheckpoint;
    try {
      c = JSON.parse(line) as AuditCheckpoint;
    } catch {
      continue; // a line torn by a crash mid-append
    }
    const sig = checkpointSig(key, { id: Number(c.id), hash: String(c.hash), at: String(c.at) });
    (typeof c.sig === 'string' && safeHexEqual(sig, c.sig) ? out.valid : out.invalid).push({ ...c, id: Number(c.id) });
  }
  return out;
}

function safeHexEqual(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/**
 * Anchors the chain's head outside the database: appends a signed checkpoint of audit_head to the checkpoint file
 * (fsynced) and logs it, when the head moved since `last`. Returns the checkpoint written, or `last`.
 */
export async function writeAuditCheckpoint(dataSource: DataSource, last?: AuditCheckpoint): Promise<AuditCheckpoint | undefined> {
  const { key, checkpointFile } = auditAnchorOf(dataSource);
  const head = await readHead(dataSource);
  if (head.id === 0 || (last && last.id === head.id)) return last;
  const unsigned = { id: head.id, hash: head.hash, at: new Date().toISOString() };
  const c: AuditCheckpoint = { ...unsigned, sig: checkpointSig(key, unsigned) };
  mkdirSync(path.dirname(checkpointFile), { recursive: true });
  const fd = openSync(checkpointFile, 'a', 0o600);
  try {
    writeSync(fd, JSON.stringify(c) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  log.info('audit checkpoint', { ...c });
  return c;
}
