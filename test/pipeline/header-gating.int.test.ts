/**
 * Header gating through a real gateway and PostgreSQL with a real Orthanc as the PACS (issue 16, item 4): a CT
 * study tagged "CT ABDOMEN PELVIS" / ABDOMEN is not applicable, recorded and audited with the reason, announced,
 * and nothing is written to the PACS (LT_REPORT_NOT_APPLICABLE is off by default).
 */
import { readPart10 } from '../../src/dicom/dcmjs';
import type { Gateway } from '../../src/gateway';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { TestOrthanc } from '../support/orthanc';
import { multipartBody, postStow } from '../support/stow';
import { until } from '../support/wait';

describe('header gating (real gateway, Orthanc as the PACS)', () => {
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

  test('an abdomen CT is not applicable: reason recorded, audited and announced, nothing written to the PACS', async () => {
    const series = phantomSeries(chestPhantom({ size: 64, slices: 24, seed: 'header-abdomen' }), {
      seed: 'header-abdomen',
      extra: { BodyPartExamined: 'ABDOMEN', StudyDescription: 'CT ABDOMEN PELVIS' },
    });
    const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
    await orthanc.upload(series.map((s) => s.bytes)); // the PACS holds it, so only gating keeps results out
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)))).status).toBe(200);
    const job = await until(
      'the job to end',
      async () => {
        await gw.tick();
        const [j] = (await gw.db.dataSource.query(`SELECT id, state, error, result FROM job WHERE study_uid = $1`, [studyUid])) as {
          id: string;
          state: string;
          error: string;
          result: { failure?: { reason: string } };
        }[];
        return j?.state === 'failed' ? j : undefined;
      },
      60_000,
      200,
    );
    expect(job.error).toBe('not applicable: Body Part Examined is ABDOMEN, not the chest (series 2)');
    expect(job.result.failure?.reason).toBe(job.error);
    const [a] = (await gw.db.dataSource.query(`SELECT detail FROM audit_log WHERE action = 'job.not_applicable' AND study_uid = $1`, [studyUid])) as { detail: { reason: string } }[];
    expect(a.detail.reason).toBe(job.error);
    const events = (await gw.db.dataSource.query(`SELECT kind FROM triage_event WHERE study_uid = $1 ORDER BY id`, [studyUid])) as { kind: string }[];
    expect(events.map((e) => e.kind)).toEqual(['study.received', 'study.not_applicable']);
    expect((await gw.db.dataSource.query(`SELECT count(*)::int AS n FROM outbox`)) as { n: number }[]).toEqual([{ n: 0 }]);
    await gw.tick();
    expect(await orthanc.rest<unknown[]>('GET', `/dicom-web/studies/${studyUid}/series`)).toHaveLength(1); // the CT alone
  });

  test('a study with no CT at all (here an MR series) is not applicable, not a "no series qualifies" report in the PACS', async () => {
    const series = phantomSeries(chestPhantom({ size: 32, slices: 24, seed: 'header-mr' }), { seed: 'header-mr', extra: { Modality: 'MR' } });
    const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
    await orthanc.upload(series.map((s) => s.bytes));
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)))).status).toBe(200);
    const job = await until(
      'the job to end',
      async () => {
        await gw.tick();
        const [j] = (await gw.db.dataSource.query(`SELECT state, error FROM job WHERE study_uid = $1`, [studyUid])) as { state: string; error: string }[];
        return j?.state === 'failed' ? j : undefined;
      },
      60_000,
      200,
    );
    expect(job.error).toBe('not applicable: the study holds no CT series (MR)');
    const events = (await gw.db.dataSource.query(`SELECT kind FROM triage_event WHERE study_uid = $1 ORDER BY id`, [studyUid])) as { kind: string }[];
    expect(events.map((e) => e.kind)).toEqual(['study.received', 'study.not_applicable']);
    await gw.tick();
    expect(await orthanc.rest<unknown[]>('GET', `/dicom-web/studies/${studyUid}/series`)).toHaveLength(1); // the MR alone
  });
});
