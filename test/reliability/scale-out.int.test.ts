import { freePort } from '../../src/db/database';
import { auditAnchorOf, verifyAuditChain } from '../../src/audit/audit-log';
import { readPart10, SopClass } from '../../src/dicom/dcmjs';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { TEST_MODELS_DIR } from '../support/models';
import { CliProcess } from '../support/process';
import { processEnvironment } from '../support/process-environment';
import { multipartBody, postStow } from '../support/stow';
import { until } from '../support/wait';
import { tempDir } from '../support/temp-dir';

describe('two gateways and two workers on one database, one gateway killed midway', () => {
  const env = processEnvironment();

  test('20 studies pushed concurrently are each triaged and delivered exactly once', async () => {
    const workerPorts = [await freePort(), await freePort()];
    for (const port of workerPorts) {
      const w = new CliProcess(['worker'], { LT_WORKER_PORT: String(port), LT_MODELS_DIR: TEST_MODELS_DIR, LT_LOG_LEVEL: 'info', LT_WORKER_THREADS: '1' }).start();
      env.procs.push(w);
      await w.waitForOutput(/worker listening/, 120_000);
    }
    const gateways: { proc: CliProcess; base: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const g = new CliProcess(['gateway'], {
        LT_DATABASE_URL: env.url,
        // Gateways sharing a database share its audit key (each would otherwise generate its own in its data dir).
        LT_AUDIT_KEY: auditAnchorOf(env.db.dataSource).key.toString('utf8'),
        LT_DATA_DIR: tempDir(`gw${i}`),
        LT_HTTP_PORT: String(port),
        LT_GRPC_PORT: '0',
        LT_WORKERS: workerPorts.map((p) => `127.0.0.1:${p}`).join(','),
        LT_PACS_URL: env.orthanc.dicomWebUrl,
        // A realistic quiet period: with 1 s, a study still streaming on a loaded machine can look complete and be
        // re-opened by its own last instances (the late-instance path: a second, superseding result).
        LT_STABLE_SECONDS: '5',
        LT_POLL_MS: '100',
        LT_JOB_LEASE_SECONDS: '5',
        LT_SELECT_MIN_SLICES: '10',
        LT_MODELS_DIR: TEST_MODELS_DIR,
        LT_LOG_LEVEL: 'warn',
      }).start();
      env.procs.push(g);
      gateways.push({ proc: g, base: `http://127.0.0.1:${port}` });
    }
    // Both start (and migrate) at once: the advisory lock lets one migrate and the other wait.
    for (const g of gateways) await g.proc.waitForHttp(`${g.base}/healthz`, 60_000);

    const studies = Array.from({ length: 20 }, (_, i) => phantomSeries(chestPhantom({ size: 64, slices: 12 }), { seed: `scale-out-${i}` }));
    const uids = studies.map((s) => readPart10(s[0].bytes).dataset.StudyInstanceUID as string);
    // The PACS holds each study, as when it forwards them: results go only into studies it holds.
    for (const s of studies) await env.orthanc.upload(s.map((x) => x.bytes));
    // Like a PACS: send everything at once; a 503 (over LT_MAX_CONCURRENT_STOW) is retried after Retry-After.
    const send = async (i: number): Promise<number> => {
      for (;;) {
        const r = await postStow(`${gateways[i % 2].base}/dicom-web/studies`, multipartBody(studies[i].map((x) => x.bytes)));
        if (r.status !== 503) return r.status;
        expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
        await new Promise((res) => setTimeout(res, 500));
      }
    };
    const statuses = await Promise.all(studies.map((_, i) => send(i)));
    expect(statuses).toEqual(Array(20).fill(200));

    const delivered = async () =>
      ((await env.db.dataSource.query(`SELECT count(*)::int AS n FROM job WHERE state = 'delivered'`)) as { n: number }[])[0].n;
    await until('a few results', async () => ((await delivered()) >= 3 ? true : undefined), 180_000, 100);
    await gateways[0].proc.kill9();
    await until('all 20 results', async () => ((await delivered()) >= 20 ? true : undefined), 300_000, 250);

    const jobs = (await env.db.dataSource.query(`SELECT study_uid, state FROM job ORDER BY study_uid`)) as { study_uid: string; state: string }[];
    expect(jobs).toHaveLength(20); // one job per study: no study was claimed twice into a second job
    expect(new Set(jobs.map((j) => j.state))).toEqual(new Set(['delivered']));
    const srs = (await (await fetch(`${env.orthanc.dicomWebUrl}/instances?SOPClassUID=${SopClass.Comprehensive3dSr}&includefield=0020000D`)).json()) as Record<
      string,
      { Value?: string[] }
    >[];
    const perStudy = new Map<string, number>();
    for (const sr of srs) {
      const s = sr['0020000D']?.Value?.[0] ?? '';
      perStudy.set(s, (perStudy.get(s) ?? 0) + 1);
    }
    for (const uid of uids) expect(perStudy.get(uid)).toBe(1);
    const inferred = (await env.db.dataSource.query(`SELECT study_uid, count(*)::int AS n FROM audit_log WHERE action = 'job.delivered' GROUP BY study_uid`)) as { n: number }[];
    expect(inferred.every((r) => r.n === 1)).toBe(true);
    expect((await verifyAuditChain(env.db.dataSource)).ok).toBe(true);
  });
});
