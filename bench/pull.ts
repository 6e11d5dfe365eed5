/**
 * SubmitStudy as a long-running operation (issue 16, item 7): how long the caller waits (requestPull: the PACS's
 * instance query and the pull recorded, what SubmitStudy answers after) against how long the pull itself runs
 * (Puller: WADO-RS of every instance, stored and recorded, the job opened), which SubmitStudy used to wait for
 * whole. The real thorax series (141 slices) from ../shared/data when present, else a 141-slice phantom, through a
 * real Orthanc; embedded PostgreSQL with fsync on. Run: npm run build && node dist/bench/pull.js
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/db/database';
import { readPart10 } from '../src/dicom/dcmjs';
import { InstanceRecorder } from '../src/ingest/instance-store';
import { Puller, requestPull } from '../src/ingest/pull';
import { Spool } from '../src/ingest/spool';
import { configureLogger } from '../src/logger';
import { SHARED_DATA_DIR } from '../src/paths';
import { chestPhantom, phantomSeries } from '../src/synthetic/phantom';
import { TestOrthanc } from '../test/support/orthanc';

const out = (s: string) => process.stdout.write(s + '\n');

async function main(): Promise<void> {
  configureLogger({ level: 'warn' });
  const series = path.join(SHARED_DATA_DIR, 'thorax-ct-dicom/series');
  const real = existsSync(series);
  const files = real ? readdirSync(series).sort().map((f) => readFileSync(path.join(series, f))) : phantomSeries(chestPhantom({ size: 512, slices: 141 })).map((s) => s.bytes);
  const studyUid = readPart10(files[0]).dataset.StudyInstanceUID as string;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-pull-'));
  chmodSync(dir, 0o755); // as root, the embedded server runs as the 'postgres' user
  const orthanc = await new TestOrthanc().start();
  const db = await openDatabase({ dataDir: dir, migrate: true });
  try {
    await orthanc.upload(files);
    const spool = new Spool(path.join(dir, 'spool'));
    await spool.init();
    const deps = { dataSource: db.dataSource, spool, recorder: new InstanceRecorder(db.dataSource), pacs: { url: orthanc.dicomWebUrl, auth: 'none' as const } };
    let t = performance.now();
    const { expected } = await requestPull(deps, studyUid, 'bench', 'submit');
    const answeredMs = performance.now() - t;
    t = performance.now();
    const { result } = await new Puller({ ...deps, leaseSeconds: 120 }).runOnce();
    const pullMs = performance.now() - t;
    if (result?.retrieved !== expected) throw new Error(`pulled ${result?.retrieved} of ${expected}`);
    out(`pull of ${expected} instances (${real ? 'real thorax series' : 'phantom'}) from a real Orthanc`);
    out(`  SubmitStudy answers after   ${(answeredMs / 1000).toFixed(2)} s (instance query, pull recorded)`);
    out(`  the pull runs in background ${(pullMs / 1000).toFixed(2)} s (what SubmitStudy used to block for, on top)`);
  } finally {
    await db.close();
    await orthanc.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
