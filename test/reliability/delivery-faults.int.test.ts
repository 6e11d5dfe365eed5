/**
 * Faults while results go to the PACS, with the whole gateway as its own process and a real Orthanc:
 * - kill -9 of the gateway while a delivery request is in flight (the PACS has stored the objects, the answer
 *   never arrived): after restart the rows go out again once their lease ends, and the study holds each object once;
 * - the PACS down for two minutes: results wait in the outbox, retried with backoff, and arrive exactly once.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyAuditChain, readAudit } from '../../src/audit/audit-log';
import { freePort } from '../../src/db/database';
import { readPart10, SopClass } from '../../src/dicom/dcmjs';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { TEST_MODELS_DIR } from '../support/models';
import { CliProcess } from '../support/process';
import { processEnvironment } from '../support/process-environment';
import { multipartBody, postStow } from '../support/stow';
import { until } from '../support/wait';

const LEASE_SECONDS = 6;

/**
 * A pass-through proxy to Orthanc that, while `hold` is set, forwards a STOW-RS request (so the PACS stores it)
 * but never answers it: the moment where a crash leaves the sender not knowing that it succeeded.
 */
class HoldingProxy {
  hold = true;
  heldStows = 0;
  private readonly server: http.Server;
  constructor(private readonly upstream: string) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return this;
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'accept', 'authorization']) if (req.headers[h]) headers[h] = String(req.headers[h]);
    const up = await fetch(`${this.upstream}${req.url}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
    const body = Buffer.from(await up.arrayBuffer());
    if (req.method === 'POST' && this.hold) {
      this.heldStows++;
      return; // stored upstream, answer withheld
    }
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/octet-stream' });
    res.end(body);
  }
}

describe('faults during result delivery', () => {
  const env = processEnvironment();

  async function gateway(pacsUrl: string): Promise<{ proc: CliProcess; base: string }> {
    const port = await freePort();
    const proc = new CliProcess(['gateway'], {
      LT_DATABASE_URL: env.url,
      LT_DATA_DIR: env.dataDir,
      LT_HTTP_PORT: String(port),
      LT_GRPC_PORT: '0',
      LT_PACS_URL: pacsUrl,
      LT_STABLE_SECONDS: '1',
      LT_POLL_MS: '200',
      LT_JOB_LEASE_SECONDS: String(LEASE_SECONDS),
      LT_SELECT_MIN_SLICES: '10',
      LT_MODELS_DIR: TEST_MODELS_DIR,
      LT_WORKER_THREADS: '1',
      LT_LOG_LEVEL: 'warn',
    }).start();
    env.procs.push(proc);
    const base = `http://127.0.0.1:${port}`;
    await proc.waitForHttp(`${base}/healthz`, 120_000);
    return { proc, base };
  }

  async function pushStudy(seed: string, base: string): Promise<{ studyUid: string; instances: number }> {
    const series = phantomSeries(chestPhantom({ size: 128, slices: 30 }), { seed });
    await env.orthanc.upload(series.map((s) => s.bytes)); // the source study is in the PACS, as in production
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)))).status).toBe(200);
    return { studyUid: readPart10(series[0].bytes).dataset.StudyInstanceUID as string, instances: series.length };
  }

  async function outbox(studyUid: string): Promise<{ state: string; sop_instance_uid: string; sop_class_uid: string; attempts: number }[]> {
    return (await env.db.dataSource.query(`SELECT state, sop_instance_uid, sop_class_uid, attempts FROM outbox WHERE study_uid = $1`, [studyUid])) as never;
  }

  /** The study in Orthanc holds every outbox object exactly once, next to the source images. */
  async function expectDeliveredOnce(studyUid: string, sourceInstances: number): Promise<void> {
    const rows = await outbox(studyUid);
    expect(rows.length).toBeGreaterThan(2);
    expect(rows.every((r) => r.state === 'delivered')).toBe(true);
    const res = await fetch(`${env.orthanc.dicomWebUrl}/studies/${studyUid}/instances`);
    const inPacs = ((await res.json()) as Record<string, { Value?: string[] }>[]).map((i) => ({ uid: i['00080018']?.Value?.[0], cls: i['00080016']?.Value?.[0] }));
    expect(inPacs).toHaveLength(sourceInstances + rows.length);
    expect(new Set(inPacs.map((i) => i.uid)).size).toBe(inPacs.length);
    for (const r of rows) expect(inPacs.filter((i) => i.uid === r.sop_instance_uid)).toHaveLength(1);
    expect(inPacs.filter((i) => i.cls === SopClass.Comprehensive3dSr)).toHaveLength(1);
    const actions = (await readAudit(env.db.dataSource, { studyUid })).map((a) => a.action);
    expect(actions.filter((a) => a === 'job.inferred')).toHaveLength(1);
    expect((await verifyAuditChain(env.db.dataSource)).ok).toBe(true);
  }

  test('kill -9 of the gateway while the PACS is storing the results: each object ends up in the study once', async () => {
    const proxy = await new HoldingProxy(env.orthanc.url).start();
    try {
      let gw = await gateway(`${proxy.url}/dicom-web`);
      const { studyUid, instances } = await pushStudy('kill-during-delivery', gw.base);
      await until('a delivery request to be in flight', async () => (proxy.heldStows > 0 ? true : undefined), 240_000, 50);
      await gw.proc.kill9();
      // The PACS has the results; our outbox does not know it.
      expect((await outbox(studyUid)).every((r) => r.state === 'pending')).toBe(true);
      expect(await env.orthanc.rest<unknown[]>('GET', `/studies/${await env.orthanc.studyId(studyUid)}/instances`)).toHaveLength(instances + (await outbox(studyUid)).length);

      proxy.hold = false;
      gw = await gateway(`${proxy.url}/dicom-web`);
      await until('the results to be delivered after the restart', async () => {
        const rows = await outbox(studyUid);
        return rows.every((r) => r.state !== 'pending') ? rows : undefined;
      }, 60_000 + LEASE_SECONDS * 1000);
      expect((await outbox(studyUid)).every((r) => r.attempts === 2)).toBe(true); // the interrupted send and the one after
      await expectDeliveredOnce(studyUid, instances);
      await gw.proc.stop();
    } finally {
      await proxy.close();
    }
  }, 420_000);

  test('the PACS down for two minutes: results wait, then arrive exactly once', async () => {
    const gw = await gateway(env.orthanc.dicomWebUrl);
    const series = phantomSeries(chestPhantom({ size: 128, slices: 30 }), { seed: 'pacs-down' });
    const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;
    await env.orthanc.upload(series.map((s) => s.bytes));
    await env.orthanc.stop();
    const downAt = Date.now();
    expect((await postStow(`${gw.base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)))).status).toBe(200);
    await until('delivery to be retried', async () => {
      const rows = await outbox(studyUid);
      return rows.length > 0 && rows.every((r) => r.attempts >= 3) ? true : undefined;
    }, 120_000);
    await new Promise((r) => setTimeout(r, Math.max(0, downAt + 120_000 - Date.now())));
    expect((await outbox(studyUid)).every((r) => r.state === 'pending')).toBe(true);
    await env.orthanc.start();
    const upAt = Date.now();
    await until('the results to arrive after the PACS is back', async () => {
      const rows = await outbox(studyUid);
      return rows.every((r) => r.state !== 'pending') ? true : undefined;
    }, 120_000);
    process.stdout.write(`PACS back after 2 min: results delivered ${((Date.now() - upAt) / 1000).toFixed(1)} s later\n`);
    await expectDeliveredOnce(studyUid, series.length);
    await gw.proc.stop();
  }, 420_000);
});
