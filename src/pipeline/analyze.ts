import { mkdtempSync, promises as fs, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import cliProgress from 'cli-progress';
import type { Config } from '../config';
import { openDatabase } from '../db/database';
import { getJob } from '../db/jobs';
import { readPart10, SopClass } from '../dicom/dcmjs';
import { Deliverer, FolderTarget } from '../egress';
import { LtError } from '../errors';
import { InstanceRecorder } from '../ingest/instance-store';
import { Spool } from '../ingest/spool';
import { openJob } from '../study/completeness';
import { AnalysisStore } from './analysis-store';
import { inferenceFor } from './analyzer';
import { importLocal, countFiles } from './local-study';
import { Pipeline } from './pipeline';

function round(v: number, digits: number): number {
  return Number(v.toFixed(digits));
}

/** The one JSON object `analyze --json` prints. */
export interface AnalyzeSummary {
  studyInstanceUid: string;
  series: string | null;
  state: string;
  priority: string | null;
  patient: { label: string; probabilities: Record<string, number>; decision: string; positiveProbability: number; threshold: number } | null;
  /** The volume evidence (models 2.0): infection present / indeterminate / absent, infected volume and share. */
  infection: { decision: string; infectedMl: number; lungMl: number; percentOfLung: number; byRegion: Record<string, { infectedMl: number; lungMl: number; fraction: number }> | null } | null;
  /** Per slice, labelled by the source image so anyone can compare with their own slice labels. */
  slices: {
    index: number;
    sopInstanceUid: string | null;
    instanceNumber: number | null;
    positionMm: number | null;
    lesionProbability: number;
    lungAreaMm2: number;
    infectionProbability: number;
    infectedAreaMm2: number;
  }[];
  keySlices: number[];
  failure: { stage: string; reason: string } | null;
  outputs: { dicom: string[]; montage: string | null };
  skippedFiles: { file: string; reason: string }[];
  timingsSeconds: Record<string, number>;
}

/**
 * `lung-triage analyze <folder|zip> --out <folder>`: the whole pipeline on local files, with no PACS and no server
 * to set up: an embedded database in a temp folder, a local worker (or LT_WORKERS), results written as DICOM files
 * plus a PNG montage of the key slices' heat maps.
 */
export async function analyzeLocal(config: Config, input: string, outDir: string, opts: { progress: boolean }): Promise<AnalyzeSummary[]> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'lt-analyze-'));
  const db = await openDatabase({ url: config.databaseUrl, dataDir: workDir, migrate: true, audit: config.audit });
  const bar = opts.progress ? new cliProgress.SingleBar({ format: ' {stage} [{bar}] {value}/{total}', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  const inference = await inferenceFor(config);
  try {
    const spool = new Spool(path.join(workDir, 'spool'));
    await spool.init();
    const deps = { dataSource: db.dataSource, spool, recorder: new InstanceRecorder(db.dataSource) };
    bar?.start((await countFiles(input)) ?? 0, 0, { stage: 'reading files  ' });
    const imported = await importLocal(deps, input, () => bar?.increment());
    if (imported.studies.length === 0)
      throw LtError.invalid(`no DICOM instance found in ${input} (${imported.skipped.length} files skipped${imported.skipped[0] ? `, e.g. ${imported.skipped[0].file}: ${imported.skipped[0].reason}` : ''})`);
    const jobs = [];
    for (const uid of imported.studies) {
      const [{ n }] = (await db.dataSource.query(`SELECT instance_count AS n FROM study WHERE study_uid = $1`, [uid])) as { n: number }[];
      jobs.push(await db.dataSource.transaction((tx) => openJob(tx, uid, n, 'local', { completedBy: 'local', source: input })));
    }
    const stages = ['selected', 'inferred', 'encoded', 'delivered'];
    bar?.setTotal(jobs.length * stages.length);
    bar?.update(0, { stage: 'analysing      ' });
    const workPath = path.join(workDir, 'work');
    const pipeline = new Pipeline({
      dataSource: db.dataSource,
      analyzer: inference.analyzer,
      workDir: workPath,
      leaseSeconds: config.pipeline.leaseSeconds,
      keySlices: config.pipeline.keySlices,
      selection: { minSlices: config.volume.minSlices },
      maxSlices: config.volume.maxSlices,
      maxAttempts: 1,
      onStage: (_id, stage) => bar?.increment(1, { stage: `${stage.padEnd(15)}` }),
    });
    while (await pipeline.runOnce()) {
      /* every job to 'encoded' (or a failure report) */
    }
    const analyses = new AnalysisStore(path.join(workPath, 'analyses'));
    const perJob = new Map<number, Awaited<ReturnType<AnalysisStore['load']>>>();
    for (const j of jobs) perJob.set(j.jobId, await analyses.load(j.jobId));
    const target = new FolderTarget(path.resolve(outDir));
    const deliverer = new Deliverer(db.dataSource, target, { baseDelayMs: 100, maxAttempts: 3 });
    await deliverer.drain(
      jobs.map((j) => j.jobId),
      60_000,
    );
    await pipeline.finalize();
    bar?.update(jobs.length * stages.length, { stage: 'done           ' });
    bar?.stop();

    const summaries: AnalyzeSummary[] = [];
    for (const j of jobs) {
      const row = await getJob(db.dataSource, j.jobId);
      if (!row) throw new Error(`job ${j.jobId} vanished`);
      const r = row.result;
      const outbox = (await db.dataSource.query(`SELECT sop_instance_uid, sop_class_uid FROM outbox WHERE job_id = $1 ORDER BY id`, [j.jobId])) as {
        sop_instance_uid: string;
        sop_class_uid: string;
      }[];
      const files = outbox.map((o) => target.fileFor(j.studyUid, o.sop_instance_uid));
      // The heat maps: the secondary captures that show a CT image (the summary page shows none).
      const heatmaps = outbox
        .filter((o) => o.sop_class_uid === SopClass.SecondaryCapture)
        .map((o) => target.fileFor(j.studyUid, o.sop_instance_uid))
        .filter((f) => readPart10(readFileSync(f)).dataset.SourceImageSequence !== undefined);
      const montage = heatmaps.length > 0 ? await writeMontage(heatmaps, path.join(target.studyDir(j.studyUid), 'key-slices.png')) : null;
      const analysis = perJob.get(j.jobId);
      summaries.push({
        studyInstanceUid: j.studyUid,
        series: r.seriesUid ?? null,
        state: row.state,
        priority: r.priority ?? null,
        patient: r.assessment
          ? { label: r.assessment.label, probabilities: r.assessment.classProbabilities, decision: r.assessment.decision, positiveProbability: r.assessment.positiveProbability, threshold: r.assessment.threshold }
          : null,
        infection: analysis?.patient.infection
          ? {
              decision: analysis.patient.infection.decision,
              infectedMl: round(analysis.patient.infection.infectedMl, 2),
              lungMl: round(analysis.patient.infection.lungMl, 1),
              percentOfLung: round(analysis.patient.infection.fraction * 100, 3),
              byRegion: r.assessment?.infection?.byRegion ?? null,
            }
          : null,
        slices:
          analysis?.slices.map((s) => {
            const src = analysis.sources?.[s.index];
            return {
              index: s.index,
              sopInstanceUid: src?.sopInstanceUid ?? null,
              instanceNumber: src?.instanceNumber ?? null,
              positionMm: src ? round(src.positionMm, 2) : null,
              lesionProbability: round(s.lesionProbability, 4),
              lungAreaMm2: round(s.lungAreaMm2, 1),
              infectionProbability: round(s.infectionProbability, 4),
              infectedAreaMm2: round(s.infectedAreaMm2, 1),
            };
          }) ?? [],
        keySlices: r.keySlices ?? [],
        failure: r.failure ?? null,
        outputs: { dicom: files, montage },
        skippedFiles: imported.skipped,
        timingsSeconds: row.timings,
      });
    }
    return summaries;
  } finally {
    bar?.stop();
    await inference.close();
    await db.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Tiles the heat-map secondary captures (RGB, uncompressed) side by side into one PNG. */
export async function writeMontage(files: string[], out: string): Promise<string> {
  const images = files.map((f) => {
    const { dataset } = readPart10(readFileSync(f));
    const px = Buffer.from((dataset.PixelData as ArrayBuffer[])[0]);
    return { rows: Number(dataset.Rows), cols: Number(dataset.Columns), px };
  });
  const cols = Math.min(images.length, 4);
  const cellW = Math.max(...images.map((i) => i.cols));
  const cellH = Math.max(...images.map((i) => i.rows));
  const png = new PNG({ width: cellW * cols, height: cellH * Math.ceil(images.length / cols) });
  images.forEach((img, k) => {
    const ox = (k % cols) * cellW;
    const oy = Math.floor(k / cols) * cellH;
    for (let y = 0; y < img.rows; y++)
      for (let x = 0; x < img.cols; x++) {
        const s = (y * img.cols + x) * 3;
        const d = ((oy + y) * png.width + ox + x) * 4;
        png.data[d] = img.px[s];
        png.data[d + 1] = img.px[s + 1];
        png.data[d + 2] = img.px[s + 2];
        png.data[d + 3] = 255;
      }
  });
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.writeFile(out, PNG.sync.write(png));
  return out;
}
