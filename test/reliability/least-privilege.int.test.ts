/**
 * Least privilege (issue 8, item 2): migration 1732400000000-AppRole creates `lung_triage_app`, which may append to
 * and read the audit log but never change it. A login user that is a member of the role (password set here, the way
 * a deployment would) is refused UPDATE, DELETE and TRUNCATE on audit_log by privilege (SQLSTATE 42501 "permission
 * denied"), not only by the append-only trigger; a whole real gateway runs as that user and ingests normally. The
 * migration's down() takes every grant back.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { audit, readAudit, verifyAuditChain } from '../../src/audit/audit-log';
import { readPart10 } from '../../src/dicom/dcmjs';
import { loadConfig } from '../../src/config';
import { openDatabase } from '../../src/db/database';
import { startGateway, type Gateway } from '../../src/gateway';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testDatabase } from '../support/db';
import { TEST_MODELS_DIR } from '../support/models';
import { multipartBody, postStow } from '../support/stow';

const ROLE = 'lung_triage_app';

/** Runs one SQL statement on a fresh connection and returns the error (code + message) or undefined. */
async function tryAs(url: string, sql: string): Promise<{ code?: string; message: string } | undefined> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
    return undefined;
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  } finally {
    await c.end();
  }
}

describe('least privilege: the lung_triage_app role (real PostgreSQL)', () => {
  let t: Awaited<ReturnType<typeof testDatabase>>;
  let appUrl: string;
  const login = `lt_app_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const admin = () => new Client({ connectionString: t.url });

  beforeAll(async () => {
    t = await testDatabase(); // migrated by the superuser, as `lung-triage migrate` would be run by the owner
    const c = admin();
    await c.connect();
    await c.query(`CREATE ROLE ${login} LOGIN PASSWORD '${password}' IN ROLE ${ROLE}`);
    await c.end();
    appUrl = t.url.replace(/\/\/[^@]*@/, `//${login}:${password}@`);
  });
  afterAll(async () => {
    await t?.cleanup();
    const c = new Client({ connectionString: process.env.LT_TEST_ADMIN_DATABASE_URL });
    await c.connect();
    await c.query(`DROP ROLE IF EXISTS ${login}`);
    await c.end();
  });

  test('the role exists, cannot log in, and holds exactly SELECT and INSERT on audit_log', async () => {
    const c = admin();
    await c.connect();
    try {
      const [r] = (await c.query(`SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = $1`, [ROLE])).rows;
      expect(r).toEqual({ rolcanlogin: false, rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false });
      const priv = async (obj: string, p: string) =>
        (await c.query(`SELECT has_table_privilege($1, $2, $3) AS ok`, [ROLE, obj, p])).rows[0].ok as boolean;
      for (const p of ['SELECT', 'INSERT']) expect(await priv('audit_log', p)).toBe(true);
      for (const p of ['UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) expect(await priv('audit_log', p)).toBe(false);
      for (const tbl of ['study', 'instance', 'instance_conflict', 'job', 'outbox', 'triage_event', 'study_pull'])
        for (const p of ['SELECT', 'INSERT', 'UPDATE', 'DELETE']) expect([tbl, p, await priv(tbl, p)]).toEqual([tbl, p, true]);
      for (const tbl of ['study', 'job', 'audit_log']) expect(await priv(tbl, 'TRUNCATE')).toBe(false);
      const seq = (await c.query(`SELECT has_sequence_privilege($1, 'audit_log_id_seq', 'USAGE') AS u, has_sequence_privilege($1, 'audit_log_id_seq', 'UPDATE') AS w`, [ROLE])).rows[0];
      // Ids come from audit_reserve() (SECURITY DEFINER): the role has no hand on the sequence at all.
      expect(seq).toEqual({ u: false, w: false });
      // No DDL: the role cannot create tables in the schema or drop the trigger.
      expect((await c.query(`SELECT has_schema_privilege($1, 'public', 'CREATE') AS ok`, [ROLE])).rows[0].ok).toBe(false);
    } finally {
      await c.end();
    }
  });

  test('as the app user: appending works; UPDATE, DELETE and TRUNCATE of audit_log are refused by privilege', async () => {
    const db = await openDatabase({ url: appUrl, dataDir: t.dataDir });
    try {
      await audit(db.dataSource, { actor: 'least-privilege-test', action: 'test.append', outcome: 'success', detail: { n: 1 } });
      const rows = await readAudit(db.dataSource, {});
      expect(rows.some((r) => r.action === 'test.append')).toBe(true);
    } finally {
      await db.close();
    }
    for (const sql of [`UPDATE audit_log SET actor = 'mallory'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`, `ALTER TABLE audit_log DISABLE TRIGGER USER`, `DROP TRIGGER audit_log_no_update ON audit_log`]) {
      const err = await tryAs(appUrl, sql);
      expect({ sql, code: err?.code }).toEqual({ sql, code: '42501' });
      // The privilege check, not the trigger's RAISE (which also uses 42501 but says "append-only").
      expect(err?.message).not.toMatch(/append-only/);
      expect(err?.message).toMatch(/permission denied|must be owner/);
    }
    // The superuser (owner) still hits the trigger: defence in depth, both layers are there.
    const owner = await tryAs(t.url, `DELETE FROM audit_log`);
    expect(owner?.message).toMatch(/append-only/);
    const db2 = await openDatabase({ url: t.url, dataDir: t.dataDir });
    try {
      expect((await verifyAuditChain(db2.dataSource)).ok).toBe(true);
    } finally {
      await db2.close();
    }
  });

  test('a real gateway running as the app user starts and ingests a study (stored, recorded, audited, job opened)', async () => {
    const series = phantomSeries(chestPhantom({ size: 32, slices: 4 }), { seed: 'least-privilege' });
    const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
    const config = loadConfig({
      LT_DATABASE_URL: appUrl,
      LT_DATA_DIR: t.dataDir,
      LT_HTTP_PORT: '0',
      LT_GRPC_PORT: '0',
      LT_STABLE_SECONDS: '1',
      LT_MODELS_DIR: TEST_MODELS_DIR,
      LT_WORKERS: '127.0.0.1:9', // no inference here: ingest and completeness are what this test is about
    });
    let gw: Gateway | undefined;
    try {
      gw = await startGateway(config); // migrations: finds nothing to do, without any DDL right
      const base = `http://127.0.0.1:${gw.httpPort}`;
      const { status } = await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)));
      expect(status).toBe(200);
      const again = await postStow(`${base}/dicom-web/studies`, multipartBody([series[0].bytes]));
      expect(again.status).toBe(200);
      const q = (sql: string) => gw!.db.dataSource.query(sql, [studyUid]) as Promise<Record<string, unknown>[]>;
      expect(await q(`SELECT 1 FROM instance WHERE study_uid = $1`)).toHaveLength(series.length);
      await new Promise((r) => setTimeout(r, 1200));
      await gw.tick();
      expect((await q(`SELECT state FROM job WHERE study_uid = $1`)).length).toBe(1);
      const actions = (await readAudit(gw.db.dataSource, { studyUid })).map((r) => r.action);
      expect(actions.filter((a) => a === 'instance.stored')).toHaveLength(series.length);
      expect(actions).toContain('instance.duplicate');
      expect((await verifyAuditChain(gw.db.dataSource)).ok).toBe(true);
      const [who] = (await gw.db.dataSource.query(`SELECT current_user AS u`)) as { u: string }[];
      expect(who.u).toBe(login);
    } finally {
      await gw?.close();
    }
  });

  test("the migration's down() revokes every grant in this database, and up() restores them", async () => {
    const db = await openDatabase({ url: t.url, dataDir: t.dataDir });
    const privs = async () =>
      Number(
        ((await db.dataSource.query(
          `SELECT count(*)::int AS n FROM information_schema.role_table_grants WHERE grantee = $1 AND table_catalog = current_database()`,
          [ROLE],
        )) as { n: number }[])[0].n,
      );
    try {
      expect(await privs()).toBeGreaterThan(0);
      // Undo back through AppRole: later migrations first (their down() runs too).
      const appRoleApplied = async () => ((await db.dataSource.query(`SELECT 1 FROM schema_migrations WHERE name = 'AppRole1732400000000'`)) as unknown[]).length > 0;
      while (await appRoleApplied()) await db.dataSource.undoLastMigration({ transaction: 'each' });
      expect(await privs()).toBe(0);
      const [seq] = (await db.dataSource.query(
        `SELECT count(*)::int AS n FROM information_schema.usage_privileges WHERE grantee = $1 AND object_catalog = current_database()`,
        [ROLE],
      )) as { n: number }[];
      expect(seq.n).toBe(0);
      expect(await tryAs(appUrl, `SELECT 1 FROM audit_log LIMIT 1`)).toMatchObject({ code: '42501' });
      await db.dataSource.runMigrations({ transaction: 'each' });
      // down() may have dropped the role (when no other database used it): membership is then re-granted.
      await db.dataSource.query(`GRANT ${ROLE} TO ${login}`);
      expect(await privs()).toBeGreaterThan(0);
      expect(await tryAs(appUrl, `SELECT 1 FROM audit_log LIMIT 1`)).toBeUndefined();
    } finally {
      await db.close();
    }
  });
});
