/**
 * Turnaround of one study, on this CPU: from the last STOW-RS byte to the SR stored in the PACS (a real Orthanc),
 * with the time of each stage and the pipeline overhead (everything except model compute) as a share of it.
 * Both sides of LT_EARLY_INFERENCE in one run, each with its own gateway and Orthanc.
 * Run: npm run build && node dist/bench/turnaround.js [--stable 1] [--cold]
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from '../src/db/database';
import { readPart10, SopClass } from '../src/dicom/dcmjs';
import { PACKAGE_ROOT, SHARED_DATA_DIR } from '../src/paths';
import { chestPhantom, phantomSeries } from '../src/synthetic/phantom';
import { TestOrthanc } from '../test/support/orthanc';
import { CliProcess } from '../test/support/process';
import { multipartBody, multipartType } from '../test/support/stow';

const out = (s: string) => process.stdout.write(s + '\n');
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};

interface Measured {
  total: number;
  cold?: number;
  timings: Record<string, number>;
  startedEarly: boolean;
}

/** One gateway (early inference on or off) against a fresh Orthanc: a warm-up study, then the measured one. */
async function measure(files: Buffer[], stable: number, early: boolean, warmup: boolean): Promise<Measured> {
  const orthanc = await new TestOrthanc().start();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-turnaround-'));
  const port = await freePort();
  const gw = new CliProcess(['gateway'], {
    LT_DATA_DIR: dataDir,
    LT_HTTP_PORT: String(port),
    LT_GRPC_PORT: '0',
    LT_PACS_URL: orthanc.dicomWebUrl,
    LT_STABLE_SECONDS: String(stable),
    LT_EARLY_INFERENCE: String(early),
    LT_POLL_MS: '100',
    LT_MODELS_DIR: path.join(PACKAGE_ROOT, 'models'),
    LT_LOG_LEVEL: 'info',
  }).start();
  try {
    await gw.waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000);
    /** Sends a study and returns the seconds from the end of the STOW request to its SR stored in Orthanc. */
    const turnaround = async (study: Buffer[]): Promise<number> => {
      const studyUid = readPart10(study[0]).dataset.StudyInstanceUID as string;
      const res = await fetch(`http://127.0.0.1:${port}/dicom-web/studies`, { method: 'POST', headers: { 'Content-Type': multipartType() }, body: multipartBody(study) });
      await res.text();
      const t0 = Date.now(); // the response follows the last byte by the fsync of the last instances only
      while (Date.now() - t0 < 15 * 60_000) {
        const list = (await (await fetch(`${orthanc.dicomWebUrl}/studies/${studyUid}/instances?SOPClassUID=${SopClass.Comprehensive3dSr}`)).json()) as unknown[];
        if (Array.isArray(list) && list.length > 0) return (Date.now() - t0) / 1000;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('no SR in the PACS within 15 minutes');
    };
    // A gateway in service has triaged studies before: a first, synthetic study warms it up (JIT, allocator arenas),
    // so the figure is the steady state, not the first study after a restart (that one is printed too).
    const cold = warmup ? await turnaround(phantomSeries(chestPhantom({ size: 512, slices: 48 }), { seed: 'turnaround-warm-up' }).map((s) => s.bytes)) : undefined;
    const total = await turnaround(files);
    const pgPort = /"port":(\d+)/.exec(gw.output)?.[1];
    const password = readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
    const c = new Client({ connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/lungtriage` });
    await c.connect();
    const { rows } = await c.query(`SELECT id, timings FROM job ORDER BY id DESC LIMIT 1`);
    const audit = await c.query(`SELECT detail FROM audit_log WHERE action = 'job.inferred' AND (detail->>'jobId')::bigint = $1`, [rows[0].id]);
    await c.end();
    return { total, cold, timings: rows[0].timings as Record<string, number>, startedEarly: audit.rows[0]?.detail?.startedEarly === true };
  } finally {
    await gw.stop();
    await orthanc.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const dir = path.join(SHARED_DATA_DIR, 'thorax-ct-dicom/series');
  const real = existsSync(dir);
  const files = real ? readdirSync(dir).sort().map((f) => readFileSync(path.join(dir, f))) : phantomSeries(chestPhantom({ size: 512, slices: 141 })).map((s) => s.bytes);
  const stable = arg('stable', 1);
  const warmup = !process.argv.includes('--cold');
  out(`study: ${real ? 'real thorax series' : 'synthetic phantom'}, ${files.length} slices; quiet period ${stable} s; PACS: Orthanc; ${warmup ? 'warm gateway (a 48-slice study first)' : 'cold gateway'}`);
  const runs = { off: await measure(files, stable, false, warmup), on: await measure(files, stable, true, warmup) };
  const model = (m: Measured) => (m.timings['worker.sliceModel'] ?? 0) + (m.timings['worker.patientModel'] ?? 0);
  const share = (m: Measured) => (100 * (m.total - model(m))) / m.total;
  out(`| | early inference off | early inference on |`);
  out(`|---|---|---|`);
  out(`| quiet period (LT_STABLE_SECONDS, by design) | ${stable.toFixed(2)} | ${stable.toFixed(2)}, overlapped by early inference |`);
  for (const k of ['select', 'inference', 'worker.preprocess', 'worker.sliceModel', 'worker.patientModel', 'encode'])
    out(`| job stage ${k} (s) | ${runs.off.timings[k]?.toFixed(2) ?? '-'} | ${runs.on.timings[k]?.toFixed(2) ?? '-'} |`);
  out(`| analysis started during the quiet period | ${runs.off.startedEarly} | ${runs.on.startedEarly} |`);
  out(`| warm-up study (s) | ${runs.off.cold?.toFixed(2) ?? '-'} | ${runs.on.cold?.toFixed(2) ?? '-'} |`);
  out(`| **turnaround: last STOW byte to SR stored in Orthanc (s)** | ${runs.off.total.toFixed(2)} | ${runs.on.total.toFixed(2)} |`);
  out(`| model compute (s) | ${model(runs.off).toFixed(2)} | ${model(runs.on).toFixed(2)} |`);
  out(`| pipeline overhead: turnaround - model compute (s) | ${(runs.off.total - model(runs.off)).toFixed(2)} | ${(runs.on.total - model(runs.on)).toFixed(2)} |`);
  out(`| **pipeline overhead, share of the turnaround** (goal < 25%) | ${share(runs.off).toFixed(1)}% | ${share(runs.on).toFixed(1)}% |`);
  out(`turnaround with early inference / without: ${(runs.on.total / runs.off.total).toFixed(2)}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
