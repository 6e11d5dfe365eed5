/**
 * Completeness without a blind wait (issue 16, item 2): the thorax series is uploaded to a real Orthanc with the
 * shipped configuration (docker/orthanc: StableAge, the auto-routing Lua that forwards a stable study by STOW-RS),
 * which forwards it to a real gateway (CLI process, embedded PostgreSQL, local worker, shipped defaults: 10 s quiet
 * period, early inference and the workers' slice cache on). Measured: from the end of Orthanc's forward (the last
 * STOW request's end at the gateway, from its log) to the SR stored in Orthanc, with the quiet period only
 * (LT_PACS_COMPLETENESS=false, before) and with the PACS's count (after), in one run, and the ratio.
 * A 48-slice phantom goes the same way first on each side, so the figure is a warm gateway's.
 * Run: npm run build && node dist/bench/completeness.js [--cold]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from '../src/db/database';
import { readPart10, SopClass } from '../src/dicom/dcmjs';
import { PACKAGE_ROOT } from '../src/paths';
import { chestPhantom, phantomSeries } from '../src/synthetic/phantom';
import { TestOrthanc } from '../test/support/orthanc';
import { CliProcess } from '../test/support/process';
import { loadSeries, out } from './support';

/** The shipped Orthanc's StableAge (docker/orthanc/orthanc.json). */
const SHIPPED_STABLE_AGE = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'docker/orthanc/orthanc.json'), 'utf8')) as { StableAge: number }).StableAge;

interface Measured {
  /** Upload to Orthanc ended → first STOW request of the forward ended at the gateway (s). */
  untilForward: number;
  /** First to last instance of the study stored at the gateway (s). */
  forward: number;
  stowRequests: number;
  /** Last STOW request end → the job opened (s). */
  untilJob: number;
  /** Last STOW request end → SR stored in Orthanc (s): the figure. */
  afterForward: number;
  completedBy: string;
  slicesReused: number;
  startedEarly: boolean;
  timings: Record<string, number>;
}

/** Times (ms since the epoch) of the gateway's 'stow request' log lines, written as each request is answered. */
function stowEnds(log: string, since: number): number[] {
  const ends: number[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('"msg":"stow request"')) continue;
    const t = Date.parse((JSON.parse(line) as { time: string }).time);
    if (t >= since) ends.push(t);
  }
  return ends;
}

async function measure(files: Buffer[], pacsCompleteness: boolean, warmup: boolean): Promise<Measured> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-completeness-'));
  const port = await freePort();
  const orthanc = await new TestOrthanc({ autoroute: true, aiUrl: `http://127.0.0.1:${port}/dicom-web/`, stableAge: SHIPPED_STABLE_AGE }).start();
  const gw = new CliProcess(['gateway'], {
    LT_DATA_DIR: dataDir,
    LT_HTTP_PORT: String(port),
    LT_GRPC_PORT: '0',
    LT_PACS_URL: orthanc.dicomWebUrl,
    LT_PACS_COMPLETENESS: String(pacsCompleteness),
    LT_MODELS_DIR: path.join(PACKAGE_ROOT, 'models'),
    LT_LOG_LEVEL: 'info',
  }).start();
  try {
    await gw.waitForHttp(`http://127.0.0.1:${port}/healthz`, 120_000);
    /** Uploads a study to Orthanc and waits for our SR in it; returns when the upload ended and the SR was seen. */
    const route = async (study: Buffer[]): Promise<{ uploaded: number; sr: number; studyUid: string }> => {
      const studyUid = readPart10(study[0]).dataset.StudyInstanceUID as string;
      await orthanc.upload(study);
      const uploaded = Date.now();
      while (Date.now() - uploaded < 15 * 60_000) {
        const list = (await (await fetch(`${orthanc.dicomWebUrl}/studies/${studyUid}/instances?SOPClassUID=${SopClass.Comprehensive3dSr}`)).json()) as unknown[];
        if (Array.isArray(list) && list.length > 0) return { uploaded, sr: Date.now(), studyUid };
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('no SR in the PACS within 15 minutes');
    };
    if (warmup) await route(phantomSeries(chestPhantom({ size: 512, slices: 48 }), { seed: 'completeness-warm-up' }).map((s) => s.bytes));
    const { uploaded, sr, studyUid } = await route(files);
    const ends = stowEnds(gw.output, uploaded);
    if (ends.length === 0) throw new Error('no STOW request seen at the gateway');
    const pgPort = /"port":(\d+)/.exec(gw.output)?.[1];
    const password = readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
    const c = new Client({ connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/lungtriage` });
    await c.connect();
    const { rows } = await c.query(`SELECT id, timings FROM job WHERE study_uid = $1 ORDER BY id DESC LIMIT 1`, [studyUid]);
    const detail = async (action: string) =>
      ((await c.query(`SELECT detail FROM audit_log WHERE action = $1 AND (detail->>'jobId')::bigint = $2`, [action, rows[0].id])).rows[0]?.detail ?? {}) as Record<string, unknown>;
    const [ready, inferred] = [await detail('study.ready'), await detail('job.inferred')];
    const span = (await c.query(`SELECT extract(epoch FROM max(received_at) - min(received_at))::float AS s FROM instance WHERE study_uid = $1`, [studyUid])).rows[0] as { s: number };
    const opened = (await c.query(`SELECT extract(epoch FROM at)::float * 1000 AS ms FROM audit_log WHERE action = 'study.ready' AND (detail->>'jobId')::bigint = $1`, [rows[0].id])).rows[0] as { ms: number };
    await c.end();
    return {
      untilForward: (ends[0] - uploaded) / 1000,
      forward: span.s,
      stowRequests: ends.length,
      untilJob: (opened.ms - ends[ends.length - 1]) / 1000,
      afterForward: (sr - ends[ends.length - 1]) / 1000,
      completedBy: String(ready.completedBy),
      slicesReused: Number(inferred.slicesReused ?? 0),
      startedEarly: inferred.startedEarly === true,
      timings: rows[0].timings as Record<string, number>,
    };
  } finally {
    await gw.stop();
    await orthanc.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { name, files } = loadSeries();
  const warmup = !process.argv.includes('--cold');
  out(`study: ${name}; Orthanc with the shipped configuration (StableAge ${SHIPPED_STABLE_AGE} s, auto-routing Lua); gateway defaults (quiet period 10 s, early inference, slice cache); ${warmup ? 'warm gateway (a 48-slice study first)' : 'cold gateway'}`);
  const before = await measure(files, false, warmup);
  const after = await measure(files, true, warmup);
  const f = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(2));
  out(`| | quiet period only (before) | PACS count (after) |`);
  out(`|---|---|---|`);
  out(`| upload to Orthanc ended → first forwarded request answered (s) | ${f(before.untilForward)} | ${f(after.untilForward)} |`);
  out(`| Orthanc's forward: first to last instance stored (s), STOW requests | ${f(before.forward)}, ${before.stowRequests} | ${f(after.forward)}, ${after.stowRequests} |`);
  out(`| last forwarded request answered → job opened (s) | ${f(before.untilJob)} | ${f(after.untilJob)} |`);
  out(`| completed by | ${before.completedBy} | ${after.completedBy} |`);
  out(`| slices reused from the analysis during the forward | ${before.slicesReused} | ${after.slicesReused} |`);
  out(`| job took the early analysis whole | ${before.startedEarly} | ${after.startedEarly} |`);
  for (const k of ['select', 'inference', 'worker.sliceModel', 'worker.patientModel', 'encode'])
    out(`| job stage ${k} (s) | ${f(before.timings[k])} | ${f(after.timings[k])} |`);
  out(`| **last forwarded request answered → SR stored in Orthanc (s)** (goal ≤ 3) | ${f(before.afterForward)} | ${f(after.afterForward)} |`);
  out(`| upload to Orthanc ended → SR stored in Orthanc (s) | ${f(before.untilForward + before.afterForward)} | ${f(after.untilForward + after.afterForward)} |`);
  out(`after / before (from the end of the forward): ${(after.afterForward / before.afterForward).toFixed(2)}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
