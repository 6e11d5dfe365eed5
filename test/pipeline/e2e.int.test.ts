import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { readAudit, verifyAuditChain } from '../../src/audit/audit-log';
import { readPart10, SopClass } from '../../src/dicom/dcmjs';
import { freePort } from '../../src/db/database';
import type { Gateway } from '../../src/gateway';
import { PACKAGE_ROOT } from '../../src/paths';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { TestOrthanc } from '../support/orthanc';
import { until } from '../support/wait';

const run = promisify(execFile);


/** Instances Orthanc holds in a study, by SOP Class UID (QIDO-RS). */
async function instancesByClass(orthanc: TestOrthanc, studyUid: string): Promise<Record<string, number>> {
  const res = await fetch(`${orthanc.dicomWebUrl}/studies/${studyUid}/instances`, { headers: orthanc.authHeader() });
  const list = (await res.json()) as Record<string, { Value?: string[] }>[];
  const out: Record<string, number> = {};
  for (const i of list) {
    const c = i['00080016']?.Value?.[0] ?? '?';
    out[c] = (out[c] ?? 0) + 1;
  }
  return out;
}

describe('end to end: Orthanc auto-routes a CT study, results come back into the same study', () => {
  let gw: Gateway;
  let cleanup: () => Promise<void>;
  let orthanc: TestOrthanc;
  const series = phantomSeries(chestPhantom({ size: 128, slices: 24 }), { seed: 'e2e' });
  const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;

  beforeAll(async () => {
    orthanc = new TestOrthanc({ autoroute: true, stableAge: 2 });
    orthanc.httpPort = await freePort();
    ({ gw, cleanup } = await testGateway({
      LT_PACS_URL: `http://127.0.0.1:${orthanc.httpPort}/dicom-web`,
      LT_SELECT_MIN_SLICES: '10',
      LT_POLL_MS: '200',
      LT_GRPC_AUTH_TOKENS: 'it-token',
    }));
    (orthanc as unknown as { opts: { aiUrl: string } }).opts.aiUrl = `http://127.0.0.1:${gw.httpPort}/dicom-web/`;
    await orthanc.start();
  });
  afterAll(async () => {
    await orthanc?.destroy();
    await cleanup?.();
  });

  test('SR, summary page, infection SEG, heat maps and KOS appear in the source study in Orthanc; the audit chain verifies', async () => {
    await orthanc.upload(series.map((s) => s.bytes));
    const classes = await until('results in Orthanc', async () => {
      const c = await instancesByClass(orthanc, studyUid);
      return c[SopClass.Comprehensive3dSr] && c[SopClass.KeyObjectSelection] && c[SopClass.SecondaryCapture] && c[SopClass.Segmentation] ? c : undefined;
    }, 180_000);
    expect(classes[SopClass.CtImage]).toBe(24);
    expect(classes[SopClass.Comprehensive3dSr]).toBe(1);
    expect(classes[SopClass.KeyObjectSelection]).toBe(1);
    expect(classes[SopClass.Segmentation]).toBe(1);
    expect(classes[SopClass.SecondaryCapture]).toBeGreaterThanOrEqual(2); // heat maps and the summary page
    const job = await until('job delivered', async () => {
      const rows = (await gw.db.dataSource.query(`SELECT id, state, timings FROM job WHERE study_uid = $1 ORDER BY id DESC LIMIT 1`, [studyUid])) as {
        id: string;
        state: string;
        timings: Record<string, number>;
      }[];
      return rows[0]?.state === 'delivered' ? rows[0] : undefined;
    }, 30_000);
    expect(Object.keys(job.timings)).toEqual(expect.arrayContaining(['select', 'inference', 'encode']));
    expect((await verifyAuditChain(gw.db.dataSource)).ok).toBe(true);
    const audit = await readAudit(gw.db.dataSource, { studyUid });
    expect(audit.map((r) => r.action)).toEqual(expect.arrayContaining(['instance.stored', 'study.ready', 'job.selected', 'job.inferred', 'job.encoded', 'job.delivered']));
    // Each recorded stage names the pipeline, its job and what it worked on.
    const seriesUid = readPart10(series[0].bytes).dataset.SeriesInstanceUID as string;
    expect(audit.find((r) => r.action === 'job.selected')).toMatchObject({ actor: 'pipeline', outcome: 'success', objectUids: [seriesUid], detail: { jobId: Number(job.id), slices: 24, rejected: [] } });
    expect(audit.find((r) => r.action === 'job.inferred')).toMatchObject({
      actor: 'pipeline',
      outcome: 'success',
      objectUids: [],
      detail: { jobId: Number(job.id), executionProvider: expect.any(String), startedEarly: expect.any(Boolean), decision: expect.any(String) },
    });
  });

  test('the study re-sent unchanged by the PACS (our results included) yields no second result', async () => {
    const id = await orthanc.studyId(studyUid);
    await orthanc.rest('POST', '/dicom-web/servers/ai/stow', { Resources: [id], Synchronous: true });
    await new Promise((r) => setTimeout(r, 4000));
    await gw.tick();
    const classes = await instancesByClass(orthanc, studyUid);
    expect(classes[SopClass.Comprehensive3dSr]).toBe(1);
    const jobs = (await gw.db.dataSource.query(`SELECT state FROM job WHERE study_uid = $1`, [studyUid])) as { state: string }[];
    expect(jobs.map((j) => j.state)).toEqual(['delivered']);
    const echoed = (await gw.db.dataSource.query(`SELECT count(*)::int AS n FROM instance i JOIN outbox o USING (sop_instance_uid) WHERE i.study_uid = $1`, [studyUid])) as {
      n: number;
    }[];
    expect(echoed[0].n).toBeGreaterThanOrEqual(3); // our SR, heat maps and KOS came back and were kept, reopening nothing
  });

  test('a foreign Python client (python3-grpcio, stubs from the .proto alone) submits, watches and gets a study', async () => {
    // A second study that only the PACS has: SubmitStudy makes the gateway pull it with WADO-RS.
    const other = phantomSeries(chestPhantom({ size: 128, slices: 20 }), { seed: 'e2e-pull' });
    const otherUid = readPart10(other[0].bytes).dataset.StudyInstanceUID as string;
    await orthanc.rest('PUT', '/tools/default-encoding', 'Utf8').catch(() => undefined);
    await orthanc.upload(other.map((s) => s.bytes));
    // Mark it forwarded so Orthanc's auto-routing leaves it to the explicit submit.
    await orthanc.rest('PUT', `/studies/${await orthanc.studyId(otherUid)}/metadata/ForwardedToAI`, '1000');
    const { stdout } = await run('/usr/bin/python3', [path.join(PACKAGE_ROOT, 'test/foreign/triage_client.py'), path.join(PACKAGE_ROOT, 'proto'), `127.0.0.1:${gw.grpcPort}`, 'it-token', otherUid], {
      timeout: 600_000,
    });
    const seen = JSON.parse(stdout.trim().split('\n').pop()!) as {
      wrong_token: string;
      submitted: { instances: number; state: string };
      events: { kind: string; study: string }[];
      study: { state: string; results: number; label: string };
      bad_uid: string;
      verify: boolean;
    };
    expect(seen.wrong_token).toBe('UNAUTHENTICATED');
    expect(seen.submitted).toEqual({ job_id: 0, instances: 20, state: 'pulling' }); // answered at once; the pull runs in the background
    expect(seen.events.find((e) => e.study === otherUid && e.kind === 'result.ready')).toBeDefined();
    expect(seen.study.state).toBe('delivered');
    expect(seen.study.results).toBeGreaterThanOrEqual(3);
    expect(seen.study.label).not.toBe('');
    expect(seen.bad_uid).toBe('INVALID_ARGUMENT');
    expect(seen.verify).toBe(true);
  });
});
