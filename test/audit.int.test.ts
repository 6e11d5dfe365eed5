import { appendAudit, audit, canonicalJson, readAudit, verifyAuditChain } from '../src/audit/audit-log';
import type { Database } from '../src/db/database';
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
