import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { Client } from 'pg';
import { openDatabase, type Database } from '../../src/db/database';
import { tempDir } from './temp-dir';

/** The server started by global-setup.js (or LT_TEST_ADMIN_DATABASE_URL, a superuser URL of a disposable server). */
function adminUrl(): string {
  const url = process.env.LT_TEST_ADMIN_DATABASE_URL;
  if (!url) throw new Error('LT_TEST_ADMIN_DATABASE_URL is not set: run tests through jest (global-setup starts PostgreSQL)');
  return url;
}

/** Creates an empty database on the test server and returns its URL. */
export async function createTestDatabaseUrl(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `lt_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = adminUrl().replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    drop: async () => {
      const c = new Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A real, migrated PostgreSQL database for one test file, plus a temp data dir; both removed on cleanup. */
export async function testDatabase(): Promise<{ db: Database; url: string; dataDir: string; cleanup: () => Promise<void> }> {
  const dataDir = tempDir('test');
  const { url, drop } = await createTestDatabaseUrl();
  const db = await openDatabase({ url, dataDir, migrate: true });
  return {
    db,
    url,
    dataDir,
    cleanup: async () => {
      if (db.dataSource.isInitialized) await db.close();
      await drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
