/**
 * Results only where they belong (issue 16, item 5), with a real gateway, worker, PostgreSQL and Orthanc as the
 * PACS: a study sent straight to the gateway, which the PACS never had, gets no AI-only study in the PACS (its
 * results are withheld, kept locally, audited and announced); a study the PACS holds gets its results as before.
 */
import { existsSync } from 'node:fs';
import { readPart10 } from '../../src/dicom/dcmjs';
import { WITHHELD } from '../../src/egress/outbox';
import type { Gateway } from '../../src/gateway';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { TestOrthanc } from '../support/orthanc';
import { multipartBody, postStow } from '../support/stow';
import { until } from '../support/wait';

const uidOf = (b: Buffer) => readPart10(b).dataset.StudyInstanceUID as string;

describe('results are delivered only into studies the PACS holds (real Orthanc)', () => {
  let orthanc: TestOrthanc;
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    orthanc = await new TestOrthanc().start();
    ({ gw, url: base, cleanup } = await testGateway({ LT_PACS_URL: orthanc.dicomWebUrl, LT_EARLY_INFERENCE: 'false', LT_POLL_MS: '200' }));
  });
  afterAll(async () => {
    await cleanup?.();
    await orthanc?.destroy();
  });

  const finished = (studyUid: string) =>
    until(
      'the job to end',
      async () => {
        await gw.tick();
        const [j] = (await gw.db.dataSource.query(`SELECT id, state FROM job WHERE study_uid = $1 ORDER BY id DESC LIMIT 1`, [studyUid])) as { id: string; state: string }[];
        return j && (j.state === 'delivered' || j.state === 'failed') ? j : undefined;
      },
      180_000,
      300,
    );

  test('a study the PACS does not hold: results withheld, kept locally, audited, announced; one it holds: delivered', async () => {
    const direct = phantomSeries(chestPhantom({ size: 64, slices: 24, seed: 'held-direct' }), { seed: 'held-direct' });
    const held = phantomSeries(chestPhantom({ size: 64, slices: 24, seed: 'held-pacs' }), { seed: 'held-pacs' });
    await orthanc.upload(held.map((s) => s.bytes)); // the PACS has this one, as when it forwards a study
    for (const s of [direct, held]) expect((await postStow(`${base}/dicom-web/studies`, multipartBody(s.map((x) => x.bytes)))).status).toBe(200);

    const withheldJob = await finished(uidOf(direct[0].bytes));
    expect(withheldJob.state).toBe('failed');
    expect(await orthanc.rest<unknown[]>('GET', `/dicom-web/studies?StudyInstanceUID=${uidOf(direct[0].bytes)}`)).toEqual([]);
    const rows = (await gw.db.dataSource.query(`SELECT state, last_error, path FROM outbox WHERE job_id = $1`, [withheldJob.id])) as { state: string; last_error: string; path: string }[];
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r).toMatchObject({ state: 'failed', last_error: WITHHELD });
      expect(existsSync(r.path)).toBe(true); // kept locally
    }
    const audit = (await gw.db.dataSource.query(`SELECT action FROM audit_log WHERE study_uid = $1 AND action LIKE 'result.%' ORDER BY id`, [uidOf(direct[0].bytes)])) as { action: string }[];
    expect(audit.map((a) => a.action)).toEqual(['result.enqueue', 'result.withheld']); // never a result.deliver
    const events = (await gw.db.dataSource.query(`SELECT kind FROM triage_event WHERE study_uid = $1 ORDER BY id`, [uidOf(direct[0].bytes)])) as { kind: string }[];
    expect(events.map((e) => e.kind)).toContain('result.withheld');

    const deliveredJob = await finished(uidOf(held[0].bytes));
    expect(deliveredJob.state).toBe('delivered');
    expect(await orthanc.rest<unknown[]>('GET', `/dicom-web/studies/${uidOf(held[0].bytes)}/series?Modality=SR`)).toHaveLength(1);
  });
});
