/**
 * The keyed audit chain's cost (issue 17, item 7): rows appended per second one per transaction and 16 per
 * transaction (as ingest's group commit does), `audit verify` rows per second, and refused logins summarised by
 * AuthFailureLog (one row per window) against one audit row per refusal (the old behaviour), on an embedded PostgreSQL
 * with fsync on. Run: npm run build && node dist/bench/audit.js [rows]
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appendAudit, audit, verifyAuditChain } from '../src/audit/audit-log';
import { AuthFailureLog } from '../src/audit/auth-failures';
import { openDatabase } from '../src/db/database';
import { configureLogger } from '../src/logger';

const out = (s: string) => process.stdout.write(s + '\n');
const entry = (i: number) => ({ actor: 'bench@127.0.0.1', action: 'instance.stored', outcome: 'success' as const, studyUid: '1.2.3', objectUids: [`1.2.3.${i}`], detail: { i, sha256: 'ab'.repeat(32) } });

async function main(): Promise<void> {
  configureLogger({ level: 'warn' });
  const rows = Number(process.argv[2] ?? 2000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-audit-'));
  chmodSync(dir, 0o755); // as root, the embedded server runs as the 'postgres' user
  const db = await openDatabase({ dataDir: dir, migrate: true });
  try {
    const dataSource = db.dataSource;
    let t = performance.now();
    for (let i = 0; i < rows; i++) await audit(dataSource, entry(i));
    const single = rows / ((performance.now() - t) / 1000);
    t = performance.now();
    for (let i = 0; i < rows; i += 16) await dataSource.transaction(async (tx) => {
      for (let j = i; j < Math.min(rows, i + 16); j++) await appendAudit(tx, entry(j));
    });
    const grouped = rows / ((performance.now() - t) / 1000);
    t = performance.now();
    const v = await verifyAuditChain(dataSource);
    const verifyRate = v.rows / ((performance.now() - t) / 1000);
    const refusals = 1000;
    t = performance.now();
    for (let i = 0; i < refusals; i++) await audit(dataSource, { actor: `anonymous@10.0.0.${i % 250}`, action: 'auth.rejected', outcome: 'failure', detail: { presented: 'wrong credentials' } });
    const perRow = performance.now() - t;
    const log = new AuthFailureLog(dataSource);
    t = performance.now();
    for (let i = 0; i < refusals; i++) log.record({ surface: 'dicomweb', outcome: 'unauthenticated', method: 'POST /dicom-web/studies', peer: `10.0.0.${i % 250}` });
    await log.flush();
    const summarised = performance.now() - t;
    out(`| appended, one row per transaction | ${single.toFixed(0)} rows/s |`);
    out(`| appended, 16 rows per transaction | ${grouped.toFixed(0)} rows/s |`);
    out(`| audit verify (${v.rows} rows, ok ${v.ok}) | ${verifyRate.toFixed(0)} rows/s |`);
    out(`| ${refusals} refused logins: one audit row each vs AuthFailureLog | ${perRow.toFixed(0)} ms vs ${summarised.toFixed(1)} ms (${(perRow / summarised).toFixed(0)}x) |`);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
