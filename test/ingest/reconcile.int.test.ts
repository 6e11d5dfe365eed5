/**
 * Reconciliation with the PACS (issue 16, item 3), against a real Orthanc and a real gateway, worker and
 * PostgreSQL: a CT study of today that Orthanc holds but never sent is found by QIDO-RS and pulled, analysed and
 * its result stored back into Orthanc without anyone asking, once two passes saw the same instance count; studies outside the look-back window or of another
 * modality are left alone; with Orthanc down a pass fails, is counted and logged, the gateway stays up, and the
 * next period after Orthanc is back recovers the study that arrived meanwhile.
 */
import { readPart10 } from '../../src/dicom/dcmjs';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import type { Gateway } from '../../src/gateway';
import { testGateway } from '../support/gateway';
import { TestOrthanc } from '../support/orthanc';
import { until } from '../support/wait';

const uidOf = (b: Buffer) => readPart10(b).dataset.StudyInstanceUID as string;
const now = new Date();
const TODAY = `${now.getFullYear()}${String(now.getMonth() + 1).padStart(2, '0')}${String(now.getDate()).padStart(2, '0')}`;

describe('reconciliation with a real Orthanc as the PACS', () => {
  let orthanc: TestOrthanc;
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    orthanc = await new TestOrthanc({ stableAge: 1 }).start(); // no auto-routing: nothing is ever pushed to us
  });
  afterAll(async () => {
    await cleanup?.();
    await orthanc?.destroy();
  });

  const metric = async (line: RegExp) => Number(line.exec(await (await fetch(`${base}/metrics`)).text())?.[1] ?? 0);
  const latestJob = async (studyUid: string) =>
    ((await gw.db.dataSource.query(`SELECT id, state FROM job WHERE study_uid = $1 ORDER BY id DESC LIMIT 1`, [studyUid])) as { id: string; state: string }[])[0];
  const delivered = (studyUid: string) =>
    until(
      'the recovered study analysed and its result in Orthanc',
      async () => {
        await gw.tick();
        if ((await latestJob(studyUid))?.state !== 'delivered') return undefined;
        const sr = await orthanc.rest<unknown[]>('GET', `/dicom-web/studies/${studyUid}/series?Modality=SR`);
        return sr.length === 1 ? true : undefined;
      },
      180_000,
      500,
    );

  test('a study the gateway never received is pulled and analysed; other dates and modalities are not', async () => {
    const missed = phantomSeries(chestPhantom({ size: 64, slices: 24, seed: 'rec-missed' }), { seed: 'rec-missed', extra: { StudyDate: TODAY } });
    const old = phantomSeries(chestPhantom({ size: 32, slices: 2, seed: 'rec-old' }), { seed: 'rec-old' }); // StudyDate 20260101
    const mr = phantomSeries(chestPhantom({ size: 32, slices: 2, seed: 'rec-mr' }), { seed: 'rec-mr', extra: { StudyDate: TODAY, Modality: 'MR', SOPClassUID: '1.2.840.10008.5.1.4.1.1.4' } });
    for (const s of [missed, old, mr]) await orthanc.upload(s.map((x) => x.bytes));

    ({ gw, url: base, cleanup } = await testGateway({ LT_PACS_URL: orthanc.dicomWebUrl, LT_RECONCILE_SECONDS: '1', LT_EARLY_INFERENCE: 'false', LT_POLL_MS: '200' }));
    await delivered(uidOf(missed[0].bytes));

    const known = (await gw.db.dataSource.query(`SELECT study_uid, source FROM study`)) as { study_uid: string; source: string }[];
    expect(known).toEqual([{ study_uid: uidOf(missed[0].bytes), source: 'pull' }]);
    const events = (await gw.db.dataSource.query(`SELECT kind, payload FROM triage_event WHERE kind = 'study.recovered'`)) as { payload: { instances: number } }[];
    expect(events).toEqual([{ kind: 'study.recovered', payload: { instances: 24 } }]);
    const [pass] = (await gw.db.dataSource.query(`SELECT actor, detail FROM audit_log WHERE action = 'reconcile.pass'`)) as { actor: string; detail: Record<string, number> }[];
    expect(pass).toEqual({ actor: 'system:reconcile', detail: { listed: 1, recovered: 1, failed: 0 } });
    expect(await metric(/^lt_studies_recovered_total (\d+)$/m)).toBe(1);
  });

  test('PACS down during a pass: counted and logged, the gateway stays up, the next period after it is back recovers', async () => {
    await orthanc.stop();
    const before = await metric(/^lt_reconcile_passes_total\{outcome="pacs_unavailable"\} (\d+)$/m);
    await until('a pass against the stopped PACS', async () => ((await metric(/^lt_reconcile_passes_total\{outcome="pacs_unavailable"\} (\d+)$/m)) > before ? true : undefined), 30_000);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    await orthanc.start();
    const later = phantomSeries(chestPhantom({ size: 64, slices: 24, seed: 'rec-later' }), { seed: 'rec-later', extra: { StudyDate: TODAY } });
    await orthanc.upload(later.map((x) => x.bytes));
    await delivered(uidOf(later[0].bytes));
    expect(await metric(/^lt_studies_recovered_total (\d+)$/m)).toBe(2);
    // Pulled whole: a pass that saw the study while Orthanc was still receiving it waited for a steady count.
    const events = (await gw.db.dataSource.query(`SELECT payload FROM triage_event WHERE kind = 'study.recovered' ORDER BY id`)) as { payload: { instances: number } }[];
    expect(events.map((e) => e.payload.instances)).toEqual([24, 24]);
    // The first study, whose SR is in Orthanc now, was not pulled again.
    const pulls = (await gw.db.dataSource.query(`SELECT count(*)::int AS n FROM job`)) as { n: number }[];
    expect(pulls[0].n).toBe(2);
  });
});
