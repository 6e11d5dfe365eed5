import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { freePort, type Database } from '../../src/db/database';
import { verifyAuditChain } from '../../src/audit/audit-log';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { readPart10 } from '../../src/dicom/dcmjs';
import { spoolKey } from '../../src/ingest/spool';
import { testDatabase } from '../support/db';
import { CliProcess } from '../support/process';
import { multipartBody, multipartType, postStow } from '../support/stow';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

describe('kill -9 of the gateway while a large STOW is streaming', () => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let base: string;
  beforeAll(async () => {
    const t = await testDatabase();
    ({ cleanup } = t);
    db = t.db;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = { LT_DATABASE_URL: t.url, LT_DATA_DIR: t.dataDir, LT_HTTP_PORT: String(port), LT_GRPC_PORT: '0', LT_STABLE_SECONDS: '3600', LT_LOG_LEVEL: 'warn' };
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
  });

  test('after restart every recorded instance is intact, no partial file remains, and a re-send completes the study', async () => {
    const series = phantomSeries(chestPhantom({ size: 128, slices: 120 }), { seed: 'crash-test' });
    const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
    const body = multipartBody(series.map((s) => s.bytes));
    let gw = new CliProcess(['gateway'], env).start();
    await gw.waitForHttp(`${base}/healthz`);

    // Stream slowly (about 1.6 MB/s); pull the plug once some instances are recorded and the body is still coming.
    let sent = 0;
    const stream = new ReadableStream({
      async pull(c) {
        if (sent >= body.length) return c.close();
        const n = Math.min(16 * 1024, body.length - sent);
        c.enqueue(body.subarray(sent, sent + n));
        sent += n;
        await new Promise((r) => setTimeout(r, 10));
      },
    });
    const req = fetch(`${base}/dicom-web/studies`, { method: 'POST', headers: { 'Content-Type': multipartType() }, body: stream, duplex: 'half' } as RequestInit).catch(
      (e: unknown) => e,
    );
    const countRecorded = async () =>
      ((await db.dataSource.query(`SELECT count(*)::int AS n FROM instance WHERE study_uid = $1`, [studyUid])) as { n: number }[])[0].n;
    while ((await countRecorded()) < 10) await new Promise((r) => setTimeout(r, 20));
    expect(sent).toBeLessThan(body.length);
    await gw.kill9();
    expect(await req).not.toHaveProperty('status'); // the request failed: never acknowledged

    const recorded = (await db.dataSource.query(`SELECT spool_path, sha256 FROM instance WHERE study_uid = $1`, [studyUid])) as { spool_path: string; sha256: string }[];
    expect(recorded.length).toBeGreaterThan(0);
    expect(recorded.length).toBeLessThan(series.length);

    gw = new CliProcess(['gateway'], env).start();
    await gw.waitForHttp(`${base}/healthz`);
    try {
      // Every recorded instance is on disk, complete (its hash matches), and partial uploads were swept.
      for (const r of recorded) expect(createHash('sha256').update(readFileSync(r.spool_path)).digest('hex')).toBe(r.sha256);
      const spool = path.join(env.LT_DATA_DIR, 'spool');
      expect(readdirSync(path.join(spool, '.incoming'))).toEqual([]);
      // Whatever else is in the spool is a whole file (content-addressed name matches its bytes).
      for (const f of walk(path.join(spool, spoolKey(studyUid)))) {
        const prefix = path.basename(f).split('.').slice(-2, -1)[0];
        expect(createHash('sha256').update(readFileSync(f)).digest('hex').slice(0, 16)).toBe(prefix);
      }
      // The PACS retries the whole study: everything ends up stored exactly once.
      const { status } = await postStow(`${base}/dicom-web/studies`, body);
      expect(status).toBe(200);
      const rows = (await db.dataSource.query(`SELECT count(*)::int AS n FROM instance WHERE study_uid = $1`, [studyUid])) as { n: number }[];
      expect(rows[0].n).toBe(series.length);
      expect((await verifyAuditChain(db.dataSource)).ok).toBe(true);
    } finally {
      expect(await gw.stop()).toBe(0);
    }
  });
});
