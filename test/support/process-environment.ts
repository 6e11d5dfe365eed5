import type { Database } from '../../src/db/database';
import { testDatabase } from './db';
import { TestOrthanc } from './orthanc';
import type { CliProcess } from './process';

/** What the tests of a file running gateways and workers as their own processes share; filled in before they run. */
export interface ProcessEnvironment {
  db: Database;
  /** The test database's URL, and a data dir for the processes. */
  url: string;
  dataDir: string;
  orthanc: TestOrthanc;
  /** The processes the tests start; each is stopped after the tests. */
  procs: CliProcess[];
}

/** A test database and a real Orthanc, set up before the file's tests; the processes, both, and the files removed after. */
export function processEnvironment(): ProcessEnvironment {
  const env = { procs: [] as CliProcess[] } as ProcessEnvironment;
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const t = await testDatabase();
    cleanup = t.cleanup;
    Object.assign(env, { db: t.db, url: t.url, dataDir: t.dataDir });
    env.orthanc = await new TestOrthanc().start();
  });
  afterAll(async () => {
    for (const p of env.procs) await p.stop();
    await env.db?.close();
    await env.orthanc?.destroy();
    await cleanup?.();
  });
  return env;
}
