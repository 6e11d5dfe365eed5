/**
 * A PostgreSQL outage is no quiet period (issue 17, item 9: two jobs delivered for one study after a restart under
 * load). While the database is down senders are refused and nothing can arrive; if that time counted, the study was
 * called complete the moment the database came back, triaged without its last instances, and triaged again when
 * the sender resumed. Real in-process gateway on a PostgreSQL of its own, stopped and started.
 */
import { rmSync } from 'node:fs';
import { Client } from 'pg';
import { readPart10 } from '../../src/dicom/dcmjs';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { PostgresProcess } from '../support/postgres-process';
import { multipartBody, postStow } from '../support/stow';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

const STABLE_SECONDS = 4;

describe('quiet period across a PostgreSQL outage (real gateway, restarted PostgreSQL)', () => {
  const pg = new PostgresProcess();
  const dataDir = tempDir('quiet-outage');
  let cleanup: (() => Promise<void>) | undefined;
  beforeAll(() => pg.start());
  afterAll(async () => {
    await cleanup?.();
    await pg.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const c = new Client({ connectionString: pg.url });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows as T[];
    } finally {
      await c.end();
    }
  }

  test('a sender that resumes after the restart completes the study once, with all its instances', async () => {
    // No worker: this is about when the study counts as complete, not about triaging it.
    let url: string;
    ({ url, cleanup } = await testGateway({ LT_DATABASE_URL: pg.url, LT_DATA_DIR: dataDir, LT_WORKERS: '127.0.0.1:9', LT_STABLE_SECONDS: String(STABLE_SECONDS), LT_POLL_MS: '200' }));
    const [first, second] = phantomSeries(chestPhantom({ size: 32, slices: 2 }), { seed: 'quiet-outage' });
    const studyUid = readPart10(first.bytes).dataset.StudyInstanceUID as string;
    expect((await postStow(`${url}/dicom-web/studies`, multipartBody([first.bytes]))).status).toBe(200);

    // Down for longer than the quiet period; the sender is refused meanwhile and keeps its instance.
    await pg.stop();
    expect((await postStow(`${url}/dicom-web/studies`, multipartBody([second.bytes]))).status).toBe(503);
    await new Promise((r) => setTimeout(r, (STABLE_SECONDS + 1) * 1000));
    await pg.start();
    // The sender comes back after a Retry-After pause shorter than the quiet period.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await postStow(`${url}/dicom-web/studies`, multipartBody([second.bytes]))).status).toBe(200);

    const jobs = await until(
      'the study complete',
      async () => {
        const rows = await query<{ id: string; state: string }>(`SELECT id, state FROM job WHERE study_uid = $1 ORDER BY id`, [studyUid]);
        return rows.length > 0 ? rows : undefined;
      },
      60_000,
    );
    const studies = await query<{ instance_count: number }>(`SELECT instance_count FROM study WHERE study_uid = $1`, [studyUid]);
    expect({ jobs: jobs.length, instances: studies[0].instance_count }).toEqual({ jobs: 1, instances: 2 });
    const opened = await query<{ detail: { instances: number } }>(`SELECT detail FROM audit_log WHERE study_uid = $1 AND action = 'study.ready'`, [studyUid]);
    expect(opened.map((r) => r.detail.instances)).toEqual([2]);
  });
});
