/**
 * Turnaround of one study, on this CPU: from the last STOW-RS byte to the SR stored in the PACS (a real Orthanc),
 * with the time of each stage and the pipeline overhead (everything except model compute) as a share of it.
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

async function main(): Promise<void> {
  const dir = path.join(SHARED_DATA_DIR, 'thorax-ct-dicom/series');
  const real = existsSync(dir);
  const files = real ? readdirSync(dir).sort().map((f) => readFileSync(path.join(dir, f))) : phantomSeries(chestPhantom({ size: 512, slices: 141 })).map((s) => s.bytes);
  const stable = arg('stable', 1);
  const warmup = !process.argv.includes('--cold');
  const orthanc = await new TestOrthanc().start();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-turnaround-'));
  const port = await freePort();
  const gw = new CliProcess(['gateway'], {
    LT_DATA_DIR: dataDir,
    LT_HTTP_PORT: String(port),
    LT_GRPC_PORT: '0',
    LT_PACS_URL: orthanc.dicomWebUrl,
    LT_STABLE_SECONDS: String(stable),
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
    out(`study: ${real ? 'real thorax series' : 'synthetic phantom'}, ${files.length} slices; quiet period ${stable} s; PACS: Orthanc; ${cold === undefined ? 'cold gateway' : `warm gateway (a 48-slice warm-up study first took ${cold.toFixed(2)} s)`}`);
    const total = await turnaround(files);
    const pgPort = /"port":(\d+)/.exec(gw.output)?.[1];
    const password = readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
    const c = new Client({ connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/lungtriage` });
    await c.connect();
    const { rows } = await c.query(`SELECT timings FROM job ORDER BY id DESC LIMIT 1`);
    await c.end();
    const t = rows[0].timings as Record<string, number>;
    const model = (t['worker.sliceModel'] ?? 0) + (t['worker.patientModel'] ?? 0);
    out(`| stage | seconds | share |`);
    out(`| quiet period (LT_STABLE_SECONDS, waiting by design) | ${stable.toFixed(2)} | ${((100 * stable) / total).toFixed(1)}% |`);
    for (const k of ['select', 'inference', 'worker.preprocess', 'worker.sliceModel', 'worker.patientModel', 'encode'])
      if (t[k] !== undefined) out(`| ${k} | ${t[k].toFixed(2)} | ${((100 * t[k]) / total).toFixed(1)}% |`);
    out(`| turnaround: last STOW byte to SR stored in Orthanc | ${total.toFixed(2)} | 100% |`);
    out(`model compute ${model.toFixed(2)} s; pipeline overhead ${(total - model).toFixed(2)} s = ${((100 * (total - model)) / total).toFixed(1)}% of the turnaround (goal < 25%); without the quiet period ${((100 * (total - stable - model)) / (total - stable)).toFixed(1)}%`);
  } finally {
    await gw.stop();
    await orthanc.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
