/**
 * Gating on the image (issue 14): a CT series without lungs in it (a chest phantom whose lungs are filled with soft
 * tissue) is "not applicable": the study gets a report saying why, through a real gateway, worker and PostgreSQL, and
 * no finding, heat map or key-object note (with LT_REPORT_NOT_APPLICABLE; by default nothing is written, see
 * header-gating.int.test.ts). The same phantom with its lungs is analysed.
 */
import { readPart10 } from '../../src/dicom/dcmjs';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { multipartBody, postStow } from '../support/stow';
import { until } from '../support/wait';
import type { Gateway } from '../../src/gateway';

interface JobRow {
  state: string;
  result: { failure?: { stage: string; reason: string }; resultUids?: string[] } | null;
}

async function finishedJob(gw: Gateway, studyUid: string): Promise<JobRow> {
  return until(
    'the job to end',
    async () => {
      await gw.tick();
      const [row] = (await gw.db.dataSource.query(`SELECT state, result FROM job WHERE study_uid = $1 ORDER BY id DESC LIMIT 1`, [studyUid])) as JobRow[];
      return row && (row.state === 'failed' || row.state === 'delivered') ? row : undefined;
    },
    120_000,
    200,
  );
}

describe('image gating (real gateway and worker)', () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ gw, url: base, cleanup } = await testGateway({ LT_EARLY_INFERENCE: 'false', LT_POLL_MS: '200', LT_REPORT_NOT_APPLICABLE: 'true' }));
  });
  afterAll(async () => {
    await cleanup();
  });

  test('a series without lungs gets a "not applicable" report and nothing else; with lungs it is analysed', async () => {
    const noLungs = chestPhantom({ size: 96, slices: 24, seed: 'gating-no-lungs' });
    for (let i = 0; i < noLungs.hu.length; i++) if (noLungs.hu[i] > -960 && noLungs.hu[i] < -300) noLungs.hu[i] = 40;
    const withLungs = chestPhantom({ size: 96, slices: 24, seed: 'gating-lungs' });
    const studyUids: string[] = [];
    for (const [vol, seed] of [
      [noLungs, 'gating-no-lungs'],
      [withLungs, 'gating-lungs'],
    ] as const) {
      const series = phantomSeries(vol, { seed });
      studyUids.push(readPart10(series[0].bytes).dataset.StudyInstanceUID as string);
      expect((await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((x) => x.bytes)))).status).toBe(200);
    }
    const gated = await finishedJob(gw, studyUids[0]);
    expect(gated.result?.failure?.stage).toBe('series-selection');
    expect(gated.result?.failure?.reason).toMatch(/^not applicable: lung found on 0% of the slices/);
    expect(gated.result?.resultUids).toHaveLength(2); // the report and its summary page, nothing drawn
    const analysed = await finishedJob(gw, studyUids[1]);
    expect(analysed.state).toBe('delivered');
    expect(analysed.result?.failure).toBeUndefined();
  });
});
