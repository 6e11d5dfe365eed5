/**
 * The shipped Orthanc auto-routing Lua (docker/orthanc/autoroute.lua) with the gateway down (issue 16, item 3):
 * a real Orthanc receives a study while nothing listens on the gateway's port. The forward fails, the study is not
 * marked forwarded, and no error is logged for the study's first look-up; once the gateway is back the Lua's retry
 * (run on Orthanc's next event: 1.10 has no timer) sends the study, which is analysed, and only then is it marked.
 */
import { readPart10 } from '../../src/dicom/dcmjs';
import { freePort } from '../../src/db/database';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { TestOrthanc } from '../support/orthanc';
import { until } from '../support/wait';

const uidOf = (b: Buffer) => readPart10(b).dataset.StudyInstanceUID as string;

describe('Orthanc auto-routing while the gateway is down (real Orthanc, shipped Lua)', () => {
  let orthanc: TestOrthanc | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await orthanc?.destroy();
    await cleanup?.();
  });

  test('a failed forward is not marked, is retried with backoff once the gateway is back, and the study is analysed', async () => {
    const port = await freePort();
    orthanc = await new TestOrthanc({ aiUrl: `http://127.0.0.1:${port}/dicom-web/`, autoroute: true, stableAge: 1 }).start();
    const missed = phantomSeries(chestPhantom({ size: 64, slices: 24, seed: 'outage-a' }), { seed: 'outage-a' });
    const missedUid = uidOf(missed[0].bytes);
    await orthanc.upload(missed.map((s) => s.bytes));
    const id = await orthanc.studyId(missedUid);
    await until('the failed forward', async () => (orthanc!.logs.includes(`forward of study ${id} failed, retry in 10 s`) ? true : undefined), 30_000).catch((e: Error) => {
      throw new Error(`${e.message}; Orthanc said:\n${orthanc!.logs.slice(-3000)}`);
    });
    const failedAt = Date.now();
    expect(await orthanc.rest<string[]>('GET', `/studies/${id}/metadata`)).not.toContain('ForwardedToAI');
    // The first forward's look-up of the marker logs nothing (reading an absent metadata item did).
    expect(orthanc.logs).not.toMatch(/Error in RestApiGet/);

    const started = await testGateway({ LT_HTTP_PORT: String(port), LT_EARLY_INFERENCE: 'false', LT_POLL_MS: '200' });
    cleanup = started.cleanup;
    const { gw } = started;
    // Past the first retry's due time, any Orthanc event runs it: here the next study that arrives.
    await new Promise((r) => setTimeout(r, Math.max(0, failedAt + 11_000 - Date.now())));
    const next = phantomSeries(chestPhantom({ size: 32, slices: 2, seed: 'outage-b' }), { seed: 'outage-b' });
    await orthanc.upload(next.map((s) => s.bytes));

    const job = await until(
      'the missed study analysed',
      async () => {
        await gw.tick();
        const [row] = (await gw.db.dataSource.query(
          `SELECT j.state, s.instance_count FROM job j JOIN study s USING (study_uid) WHERE j.study_uid = $1 ORDER BY j.id DESC LIMIT 1`,
          [missedUid],
        )) as { state: string; instance_count: number }[];
        return row?.state === 'delivered' ? row : undefined;
      },
      120_000,
      300,
    );
    expect(job.instance_count).toBe(missed.length);
    expect(await orthanc.rest<number>('GET', `/studies/${id}/metadata/ForwardedToAI`)).toBe(missed.length);
    expect(orthanc.logs).toMatch(new RegExp(`forwarding study ${id} \\(24 CT instances\\), retry 1`));
  });
});
