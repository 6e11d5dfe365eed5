/**
 * Time to encode and deliver the results of a 300-slice synthetic study: buildResults (SR + heat maps + KOS),
 * enqueue into the outbox (files fsynced + rows), STOW-RS into a real Orthanc through the Deliverer, and the
 * no-PACS folder target for comparison. Run: npm run build && node dist/bench/results.js [slices] [size] [keySlices]
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, openDatabase } from '../src/db/database';
import { Deliverer, DicomWebTarget, enqueueResults, FolderTarget } from '../src/egress';
import { configureLogger } from '../src/logger';
import { buildResults } from '../src/results';
import { syntheticStudy } from '../test/results/fixtures';

const out = (s: string) => process.stdout.write(s + '\n');

async function startOrthanc(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const cfg = {
    Name: 'bench', StorageDirectory: path.join(dir, 'db'), IndexDirectory: path.join(dir, 'db'), HttpPort: port, DicomPort: await freePort(),
    RemoteAccessAllowed: false, AuthenticationEnabled: false, SaveJobs: false,
    Plugins: ['/usr/share/orthanc/plugins/libOrthancDicomWeb.so'], DicomWeb: { Enable: true, Root: '/dicom-web/' },
  };
  writeFileSync(path.join(dir, 'orthanc.json'), JSON.stringify(cfg));
  const proc = spawn('/usr/sbin/Orthanc', [path.join(dir, 'orthanc.json')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/system`)).ok) break;
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop: () => new Promise<void>((r) => (proc.exitCode !== null ? r() : (proc.once('exit', () => r()), proc.kill('SIGTERM')))) };
}

async function main(): Promise<void> {
  configureLogger({ level: 'warn' });
  const slices = Number(process.argv[2] ?? 300);
  const size = Number(process.argv[3] ?? 512);
  const keySlices = Number(process.argv[4] ?? 4);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-results-'));
  chmodSync(dir, 0o755); // embedded PostgreSQL runs as its own user when we are root
  const dbUrl = process.env.LT_DATABASE_URL;
  out(`results bench: ${slices} slices of ${size}x${size}, ${keySlices} key slices`);
  let t = Date.now();
  const fx = syntheticStudy({ size, slices, seed: 'bench' });
  out(`  synthetic study + analysis (setup, not timed work)  ${Date.now() - t} ms`);
  const db = await openDatabase({ url: dbUrl, dataDir: path.join(dir, 'data'), migrate: true });
  const orthanc = await startOrthanc(path.join(dir));
  try {
    const dataSource = db.dataSource;
    await dataSource.query(`INSERT INTO study (study_uid, state) VALUES ($1, 'ready')`, [fx.study.StudyInstanceUID]);
    const runs: Record<string, number[]> = { encode: [], enqueue: [], stow: [], folder: [] };
    for (let i = 0; i < 3; i++) {
      const volume = { ...fx.volume, contentHash: `${fx.volume.contentHash.slice(0, 60)}${i}bench` };
      t = performance.now();
      const r = buildResults({ study: fx.study, volume, analysis: fx.analysis, keySlices });
      runs.encode.push(performance.now() - t);
      const bytes = r.objects.reduce((n, o) => n + o.bytes.length, 0);
      const [{ id }] = (await dataSource.query(`INSERT INTO job (study_uid, state) VALUES ($1, 'encoded') RETURNING id`, [fx.study.StudyInstanceUID])) as { id: string }[];
      t = performance.now();
      await dataSource.transaction((tx) => enqueueResults(tx, id, fx.study.StudyInstanceUID, r, path.join(dir, 'outbox')));
      runs.enqueue.push(performance.now() - t);
      t = performance.now();
      const [state] = await new Deliverer(dataSource, new DicomWebTarget({ url: `${orthanc.url}/dicom-web`, auth: 'none' })).drain([id], 120000);
      runs.stow.push(performance.now() - t);
      if (state.state !== 'delivered') throw new Error(`delivery ended ${state.state}`);
      await dataSource.query(`UPDATE outbox SET state = 'pending', delivered_at = NULL, attempts = 0, next_attempt_at = now() WHERE job_id = $1`, [id]);
      t = performance.now();
      await new Deliverer(dataSource, new FolderTarget(path.join(dir, 'folder'))).drain([id], 120000);
      runs.folder.push(performance.now() - t);
      if (i === 0) out(`  objects: ${r.objects.length} (1 SR, ${r.objects.length - 2} heat maps, 1 KOS), ${(bytes / 1048576).toFixed(2)} MiB`);
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const e = med(runs.encode);
    const q = med(runs.enqueue);
    const s = med(runs.stow);
    const f = med(runs.folder);
    out(`  encode (buildResults)               median ${e.toFixed(0)} ms   runs ${runs.encode.map((x) => x.toFixed(0)).join(', ')}`);
    out(`  enqueue (fsync files + outbox rows) median ${q.toFixed(0)} ms   runs ${runs.enqueue.map((x) => x.toFixed(0)).join(', ')}`);
    out(`  deliver STOW-RS to Orthanc          median ${s.toFixed(0)} ms   runs ${runs.stow.map((x) => x.toFixed(0)).join(', ')}`);
    out(`  deliver to local folder             median ${f.toFixed(0)} ms   runs ${runs.folder.map((x) => x.toFixed(0)).join(', ')}`);
    out(`  total encode + enqueue + STOW       median ${(e + q + s).toFixed(0)} ms   (STOW / folder = ${(s / f).toFixed(1)}x)`);
  } finally {
    await orthanc.stop();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
