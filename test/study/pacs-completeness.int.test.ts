/**
 * Completeness without a blind wait (issue 16, item 2), with a real gateway, PostgreSQL and Orthanc as the PACS:
 * when a STOW request (or a DIMSE association) ends, the gateway asks the PACS (QIDO-RS) how many instances the study has and opens the job
 * at once when it holds them all; while the PACS holds more, it waits; with the PACS down, the quiet period decides.
 * The quiet period is long here (15 s), so a job opened by the count cannot have been opened by it, and the audit
 * row and event name the rule either way. No worker is reachable: only when the job opens matters here.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/db/database';
import { readPart10 } from '../../src/dicom/dcmjs';
import type { Gateway } from '../../src/gateway';
import { metrics } from '../../src/metrics';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { TestOrthanc } from '../support/orthanc';
import { multipartBody, postStow } from '../support/stow';
import { tempDir } from '../support/temp-dir';
import { until } from '../support/wait';

const uidOf = (b: Buffer) => readPart10(b).dataset.StudyInstanceUID as string;

/** How many PACS completeness checks ended with this outcome so far. */
async function checks(outcome: string): Promise<number> {
  const { values } = await metrics.pacsCompletenessChecks.get();
  return values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

describe('a study is complete when the PACS holds what was received (real Orthanc)', () => {
  let orthanc: TestOrthanc;
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  let dimsePort: number;
  beforeAll(async () => {
    orthanc = await new TestOrthanc().start();
    dimsePort = await freePort();
    ({ gw, url: base, cleanup } = await testGateway({
      LT_DIMSE_PORT: String(dimsePort),
      LT_PACS_URL: orthanc.dicomWebUrl,
      LT_STABLE_SECONDS: '15',
      LT_EARLY_INFERENCE: 'false',
      LT_RECONCILE_SECONDS: '0',
      LT_WORKERS: '127.0.0.1:9',
    }));
  });
  afterAll(async () => {
    await cleanup?.();
    await orthanc?.destroy();
  });

  const stow = async (files: Buffer[]) => expect((await postStow(`${base}/dicom-web/studies`, multipartBody(files))).status).toBe(200);
  const jobs = async (studyUid: string) => (await gw.db.dataSource.query(`SELECT id FROM job WHERE study_uid = $1 ORDER BY id`, [studyUid])) as { id: string }[];
  const opened = async (studyUid: string, count: number) => {
    await until(`job ${count} of the study`, async () => ((await jobs(studyUid)).length >= count ? true : undefined), 60_000);
    const ready = (await gw.db.dataSource.query(`SELECT detail FROM audit_log WHERE study_uid = $1 AND action = 'study.ready' ORDER BY id`, [studyUid])) as {
      detail: Record<string, unknown>;
    }[];
    const events = (await gw.db.dataSource.query(`SELECT payload FROM triage_event WHERE study_uid = $1 AND kind = 'study.received' ORDER BY id`, [studyUid])) as {
      payload: Record<string, unknown>;
    }[];
    expect(ready).toHaveLength(count);
    expect(events).toHaveLength(count);
    return { audit: ready[count - 1].detail, event: events[count - 1].payload };
  };
  const series = (seed: string, slices: number) => phantomSeries(chestPhantom({ size: 64, slices, seed }), { seed }).map((s) => s.bytes);

  test('equal counts: the job opens at once; a late instance opens the next one the same way', async () => {
    const files = series('pacs-equal', 25);
    const uid = uidOf(files[0]);
    await orthanc.upload(files.slice(0, 24));
    await stow(files.slice(0, 24));
    const first = await opened(uid, 1);
    expect(first.audit).toMatchObject({ completedBy: 'pacs-count', pacsInstances: 24, instances: 24 });
    expect(first.event).toMatchObject({ completedBy: 'pacs-count', instances: 24 });

    // The job waits for a worker (none answers), so nothing of ours is in the PACS to count.
    await orthanc.upload([files[24]]);
    await stow([files[24]]);
    const second = await opened(uid, 2);
    expect(second.audit).toMatchObject({ completedBy: 'pacs-count', pacsInstances: 25, instances: 25 });
  });

  test('a DIMSE association (storescu) that delivered what the PACS holds: the job opens at once', async () => {
    const files = series('pacs-dimse', 24);
    const uid = uidOf(files[0]);
    await orthanc.upload(files);
    const dir = tempDir('pacs-dimse');
    const paths = files.map((f, i) => {
      const file = path.join(dir, `${i}.dcm`);
      writeFileSync(file, f);
      return file;
    });
    const sent = await new Promise<number>((resolve, reject) => {
      const p = spawn('storescu', ['-aet', 'STORESCU', '-aec', 'LUNG_TRIAGE', '127.0.0.1', String(dimsePort), ...paths], { stdio: 'ignore' });
      p.on('error', reject);
      p.on('close', (code) => resolve(code ?? -1));
    });
    expect(sent).toBe(0);
    const job = await opened(uid, 1);
    expect(job.audit).toMatchObject({ completedBy: 'pacs-count', pacsInstances: 24, instances: 24 });
  });

  test('the PACS holds more than was received: no job until the rest arrives', async () => {
    const files = series('pacs-more', 24);
    const uid = uidOf(files[0]);
    await orthanc.upload(files);
    const differ = await checks('counts_differ');
    await stow(files.slice(0, 16));
    await until('the check to find the counts differ', async () => ((await checks('counts_differ')) > differ ? true : undefined), 30_000);
    expect(await jobs(uid)).toHaveLength(0);

    await stow(files.slice(16));
    const job = await opened(uid, 1);
    expect(job.audit).toMatchObject({ completedBy: 'pacs-count', pacsInstances: 24, instances: 24 });
  });

  test('a study the PACS does not hold, and the PACS down: the quiet period decides', async () => {
    const unknown = series('pacs-unknown', 6);
    const unknownChecks = await checks('unknown_to_pacs');
    await stow(unknown);
    await until('the check to find the study unknown', async () => ((await checks('unknown_to_pacs')) > unknownChecks ? true : undefined), 30_000);
    expect(await jobs(uidOf(unknown[0]))).toHaveLength(0);

    await orthanc.stop();
    const files = series('pacs-down', 6);
    const unavailable = await checks('pacs_unavailable');
    await stow(files);
    await until('the check to find the PACS unavailable', async () => ((await checks('pacs_unavailable')) > unavailable ? true : undefined), 30_000);
    expect(await jobs(uidOf(files[0]))).toHaveLength(0);
    for (const s of [unknown, files]) {
      const job = await opened(uidOf(s[0]), 1);
      expect(job.audit).toMatchObject({ completedBy: 'quiet-period', stableSeconds: 15 });
      expect(job.event).toMatchObject({ completedBy: 'quiet-period' });
    }
  });
});
