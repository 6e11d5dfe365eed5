import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { appendAudit, audit, auditAnchorOf, canonicalJson, readAudit, verifyAuditChain, writeAuditCheckpoint } from '../src/audit/audit-log';
import type { Database } from '../src/db/database';
import { openDatabase } from '../src/db/database';
import { PACKAGE_ROOT } from '../src/paths';
import { testDatabase } from './support/db';

describe('audit log (real PostgreSQL)', () => {
  let db: Database;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ db, cleanup } = await testDatabase());
  });
  afterAll(() => cleanup());

  test('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
  });

  test('rows chain, concurrent writers included, and the chain verifies', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        audit(db.dataSource, { actor: 'test', action: 'instance.stored', outcome: 'success', studyUid: '1.2.3', objectUids: [`1.2.3.${i}`], detail: { i, nested: { b: 2, a: 1 } } }),
      ),
    );
    const rows = await readAudit(db.dataSource, { studyUid: '1.2.3' });
    expect(rows).toHaveLength(20);
    for (let i = 1; i < rows.length; i++) expect(rows[i].prevHash).toBe(rows[i - 1].hash);
    const v = await verifyAuditChain(db.dataSource);
    expect(v).toMatchObject({ ok: true, rows: 20 });
  });

  test('the database refuses UPDATE, DELETE and TRUNCATE', async () => {
    await expect(db.dataSource.query(`UPDATE audit_log SET actor = 'x'`)).rejects.toThrow(/append-only/);
    await expect(db.dataSource.query(`DELETE FROM audit_log`)).rejects.toThrow(/append-only/);
    await expect(db.dataSource.query(`TRUNCATE audit_log`)).rejects.toThrow(/append-only/);
  });

  test('an edit made behind the trigger (superuser) is found and named', async () => {
    const rows = await readAudit(db.dataSource);
    const victim = rows[7];
    await db.dataSource.transaction(async (tx) => {
      await tx.query(`SET LOCAL session_replication_role = replica`);
      await tx.query(`UPDATE audit_log SET outcome = 'failure' WHERE id = $1`, [victim.id]);
    });
    const v = await verifyAuditChain(db.dataSource);
    expect(v.ok).toBe(false);
    expect(v.firstBadId).toBe(victim.id);
    expect(v.problem).toMatch(/changed/);
  });

  test('a deleted row breaks the link and is named', async () => {
    const rows = await readAudit(db.dataSource);
    await db.dataSource.transaction(async (tx) => {
      await tx.query(`SET LOCAL session_replication_role = replica`);
      await tx.query(`UPDATE audit_log SET outcome = 'success' WHERE id = $1`, [rows[7].id]);
      await tx.query(`DELETE FROM audit_log WHERE id = $1`, [rows[12].id]);
    });
    const v = await verifyAuditChain(db.dataSource);
    expect(v).toMatchObject({ ok: false, firstBadId: rows[13].id });
    expect(v.problem).toMatch(/link/);
    // Only the row after the gap: the rest of the chain still verifies on its own links.
    expect(v.problems.map((p) => p.id)).toEqual([rows[13].id]);
  });

  test('appendAudit joins the caller transaction: a rollback leaves no audit row', async () => {
    const before = (await readAudit(db.dataSource)).length;
    await expect(
      db.dataSource.transaction(async (tx) => {
        await appendAudit(tx, { actor: 'test', action: 'x', outcome: 'success' });
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    expect(await readAudit(db.dataSource)).toHaveLength(before);
  });
});

/**
 * Issue 17, item 7: the chain is keyed with LT_AUDIT_KEY (never in the database), ids, times and links are assigned by
 * the server, and the head is anchored outside the table (audit_head, signed checkpoints in the data dir). Each case
 * starts from a fresh database holding five genuine rows and one checkpoint of them.
 */
describe('audit log: forging, cutting and back-dating are found (real PostgreSQL)', () => {
  let t: Awaited<ReturnType<typeof testDatabase>>;
  let rows: Awaited<ReturnType<typeof readAudit>>;
  const login = `lt_audit_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const appUrl = () => t.url.replace(/\/\/[^@]*@/, `//${login}:${password}@`);
  const asOwnerBehindTrigger = (sql: string, params: unknown[] = []) =>
    t.db.dataSource.transaction(async (tx) => {
      await tx.query(`SET LOCAL session_replication_role = replica`);
      await tx.query(sql, params);
    });
  const asApp = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const c = new Client({ connectionString: appUrl() });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };

  beforeEach(async () => {
    t = await testDatabase();
    await t.db.dataSource.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${login}') THEN CREATE ROLE ${login} LOGIN PASSWORD '${password}' IN ROLE lung_triage_app; END IF; END $$`);
    for (let i = 0; i < 5; i++) await audit(t.db.dataSource, { actor: 'test', action: 'instance.stored', outcome: 'success', studyUid: '1.2.3', detail: { i } });
    await writeAuditCheckpoint(t.db.dataSource);
    rows = await readAudit(t.db.dataSource);
    expect(await verifyAuditChain(t.db.dataSource)).toMatchObject({ ok: true, rows: 5, checkpoints: 1, problems: [] });
  });
  afterEach(() => t.cleanup());
  afterAll(async () => {
    const c = new Client({ connectionString: process.env.LT_TEST_ADMIN_DATABASE_URL });
    await c.connect();
    await c.query(`DROP ROLE IF EXISTS ${login}`);
    await c.end();
  });

  test('the last row deleted by the owner (trigger disabled) is named, through audit_head and through the checkpoint', async () => {
    const last = rows[rows.length - 1];
    await asOwnerBehindTrigger(`DELETE FROM audit_log WHERE id = $1`, [last.id]);
    const v = await verifyAuditChain(t.db.dataSource);
    expect(v).toMatchObject({ ok: false, firstBadId: last.id });
    expect(v.problem).toMatch(/missing.*tail/);
    // A careful owner also rolls audit_head back: the signed checkpoint outside the database still names the row.
    await asOwnerBehindTrigger(`UPDATE audit_head SET id = $1, hash = $2`, [rows[3].id, rows[3].hash]);
    const v2 = await verifyAuditChain(t.db.dataSource);
    expect(v2.problems).toEqual([{ id: last.id, problem: expect.stringMatching(/missing: named by the signed checkpoint/) }]);
    // The command an operator runs says the same and exits 1.
    const cli = spawnSync(process.execPath, [path.join(PACKAGE_ROOT, 'dist/src/cli.js'), 'audit', 'verify'], {
      env: { ...process.env, LT_DATABASE_URL: t.url, LT_DATA_DIR: t.dataDir, LT_LOG_LEVEL: 'error' },
      encoding: 'utf8',
    });
    expect(cli.status).toBe(1);
    expect(cli.stdout).toMatch(new RegExp(`BROKEN at row ${last.id}: is missing: named by the signed checkpoint`));
  });

  test('the app role cannot choose id or time: a back-dated or huge-id INSERT is refused by the database', async () => {
    const err = await asApp((c) =>
      c
        .query(`INSERT INTO audit_log (id, at, actor, action, outcome, prev_hash, hash) VALUES (999999999999, '2020-01-01T00:00:00Z', 'mallory', 'x', 'success', $1, 'f')`, [rows[4].hash])
        .then(() => undefined, (e: { code?: string; message: string }) => e),
    );
    expect(err).toMatchObject({ code: '42501' });
    expect(err?.message).toMatch(/audit_reserve/);
    // Nor take a reservation's id and change the time.
    const err2 = await asApp(async (c) => {
      await c.query('BEGIN');
      const r = (await c.query(`SELECT id, at, prev_hash FROM audit_reserve()`)).rows[0] as { id: string; prev_hash: string };
      return c
        .query(`INSERT INTO audit_log (id, at, actor, action, outcome, prev_hash, hash) VALUES ($1, '2020-01-01T00:00:00Z', 'mallory', 'x', 'success', $2, 'f')`, [r.id, r.prev_hash])
        .then(() => undefined, (e: { code?: string }) => e)
        .finally(() => c.query('ROLLBACK'));
    });
    expect(err2).toMatchObject({ code: '42501' });
    expect(await verifyAuditChain(t.db.dataSource)).toMatchObject({ ok: true, rows: 5 });
  });

  test('a row forged by the app role through the proper path (no key) is named, and the rows after it still verify', async () => {
    const forgedId = await asApp(async (c) => {
      await c.query('BEGIN');
      const r = (await c.query(`SELECT id, at, prev_hash FROM audit_reserve()`)).rows[0] as { id: string; at: Date; prev_hash: string };
      // Without the key the best a forger can do is the old unkeyed sha256 (or anything else).
      await c.query(`INSERT INTO audit_log (id, at, actor, action, outcome, prev_hash, hash) VALUES ($1, $2, 'pipeline', 'job.delivered', 'success', $3, $4)`, [r.id, r.at, r.prev_hash, 'a'.repeat(64)]);
      await c.query('COMMIT');
      return Number(r.id);
    });
    await audit(t.db.dataSource, { actor: 'test', action: 'after.forgery', outcome: 'success' });
    const v = await verifyAuditChain(t.db.dataSource);
    expect(v.problems).toEqual([{ id: forgedId, problem: expect.stringMatching(/MAC/) }]);
  });

  test('a back-dated row and a huge-id row slipped in by the owner are named; later rows still verify', async () => {
    const [{ max }] = (await t.db.dataSource.query(`SELECT max(id)::bigint AS max FROM audit_log`)) as { max: string }[];
    const insert = `INSERT INTO audit_log (id, at, actor, action, outcome, prev_hash, hash) VALUES ($1, $2, 'mallory', 'x', 'success', $3, $4)`;
    await asOwnerBehindTrigger(insert, ['9000000000000000000', '2020-01-01T00:00:00Z', rows[4].hash, 'b'.repeat(64)]);
    // An id the sequence handed out but no row took (as a rolled-back transaction leaves): a slot in mid-chain.
    const [{ gap }] = (await t.db.dataSource.query(`SELECT nextval('audit_log_id_seq')::bigint AS gap`)) as { gap: string }[];
    await audit(t.db.dataSource, { actor: 'test', action: 'after.gap', outcome: 'success' });
    await asOwnerBehindTrigger(insert, [gap, '2020-01-01T00:00:00Z', rows[4].hash, 'c'.repeat(64)]);
    await audit(t.db.dataSource, { actor: 'test', action: 'after.huge', outcome: 'success' });
    const v = await verifyAuditChain(t.db.dataSource);
    expect(Number(gap)).toBeGreaterThan(Number(max));
    expect(v.problems.map((p) => p.id)).toEqual([Number(gap), 9000000000000000000, 9000000000000000000]);
    expect(v.problems[0].problem).toMatch(/MAC/);
    expect(v.problems.map((p) => p.problem).join()).toMatch(/after the last row/);
    const later = (await readAudit(t.db.dataSource)).filter((r) => r.action.startsWith('after.'));
    expect(later).toHaveLength(2);
    for (const r of later) expect(v.problems.some((p) => p.id === r.id)).toBe(false);
  });

  test('a checkpoint not signed with the audit key is named; another key fails every row', async () => {
    const { checkpointFile } = auditAnchorOf(t.db.dataSource);
    const [c] = readFileSync(checkpointFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: number; hash: string; at: string; sig: string });
    writeFileSync(checkpointFile, JSON.stringify({ ...c, id: 1 }) + '\n', { flag: 'a' });
    const v = await verifyAuditChain(t.db.dataSource);
    expect(v.problems).toEqual([{ id: 1, problem: expect.stringMatching(/not signed/) }]);
    const other = await openDatabase({ url: t.url, dataDir: t.dataDir, audit: { key: 'k'.repeat(40) } });
    try {
      expect((await verifyAuditChain(other.dataSource)).problems.filter((p) => /MAC/.test(p.problem))).toHaveLength(5);
    } finally {
      await other.close();
    }
  });
});
