/**
 * The result set of one study run, object by object: the SR (sr-document.ts), the summary page (summary.ts), the
 * infection SEG (seg.ts), the heat maps (heatmap-series.ts) and the KOS (kos.ts), all in the source study with
 * deterministic UIDs (result-set.ts).
 */
import { createHash } from 'node:crypto';
import type { Analysis } from '../inference/types';
import type { HuVolume } from '../volume/types';
import { PRIORITY } from '../triage-priority';
import { infectionByRegion, laterality, lesionBurden, lesionSlices, selectKeySlices } from './analysis-summary';
import { stageCode } from './codes';
import { DEVICE } from './device';
import { sliceLabel } from './heatmap';
import { heatMapSeries } from './heatmap-series';
import { keyObjectSelection } from './kos';
import { triagePriority } from './priority';
import { algorithmOf, modelKey, resultContext, resultUids, sourceRef, type ResultObjects, type Supersedes } from './result-set';
import { infectionSegmentation } from './seg';
import { analysisReport, type ExaminedImage, middleImage, notAnalysedReport } from './sr-document';
import type { InstanceRef } from './sr/content';
import { AlgorithmIdentification } from './sr/templates';
import type { StudyContext } from './study-context';
import { summaryPage } from './summary';

/** Key slices are kept at least this far apart along the slice normal, so they show different levels. */
export const KEY_SLICE_MIN_GAP_MM = 10;

/** Input of {@link buildResults}. */
export interface BuildResultsInput {
  study: StudyContext;
  volume?: HuVolume;
  /** Required unless `failure` is given. */
  analysis?: Analysis;
  keySlices: number;
  supersedes?: Supersedes;
  /** Inference (or an earlier stage) failed: produce an SR that says so and why. */
  failure?: { stage: string; reason: string; details?: string[] };
  /** Creation time stamped on the objects (defaults to now; UIDs never depend on it). */
  now?: Date;
  /** With `failure`: the study's instances that were examined and not used (see {@link failureReport}). */
  examined?: ExaminedInstance[];
}

/** An instance of the study that was looked at (an InstanceHeader fits), for the evidence of a failure report. */
export interface ExaminedInstance {
  seriesUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  /** The image's matrix and place in its series, when known: the failure report draws its region on an examined image. */
  rows?: number;
  columns?: number;
  instanceNumber?: number;
}

/**
 * Encodes the results of one analysed study: the SR (TID 1500), the summary page, and on a positive or
 * indeterminate study the infection SEG, the heat maps of the key slices and a Key Object Selection. With
 * `failure`, returns {@link failureReport} instead.
 */
export function buildResults(input: BuildResultsInput): ResultObjects {
  const { study, volume, analysis } = input;
  if (input.failure || !analysis || !volume) {
    return failureReport(study, input.failure ?? { stage: 'inference', reason: 'no analysis was produced' }, {
      volume,
      analysis,
      supersedes: input.supersedes,
      now: input.now,
      examined: input.examined,
    });
  }
  if (analysis.slices.length !== volume.slices) throw new Error(`analysis has ${analysis.slices.length} slices, volume ${volume.slices}`);
  const uids = resultUids(study.StudyInstanceUID, volume.contentHash, modelKey(analysis), `keySlices ${input.keySlices}`);
  const ctx = resultContext(study, uids, algorithmOf(analysis), input.now ?? new Date(), analysis.models);
  const keys = selectKeySlices(analysis, input.keySlices, Math.ceil(KEY_SLICE_MIN_GAP_MM / Math.max(0.1, volume.sliceSpacing)));
  const lat = laterality(lesionSlices(analysis), volume.imageOrientationPatient[0]);
  const burden = lesionBurden(analysis);
  const byRegion = infectionByRegion(analysis, volume);
  const prio = triagePriority(analysis.patient);
  const p = analysis.patient;

  const seg = infectionSegmentation(ctx, volume, analysis);
  const sr = analysisReport(ctx, { volume, analysis, keys, seg, byRegion, priority: prio, laterality: lat, burden, supersedes: input.supersedes });
  const positiveClass = analysis.classes.find((c) => c.label === analysis.positiveClass)?.display || analysis.positiveClass;
  const infected = p.infection && p.decision !== 'negative';
  const summary = summaryPage(
    ctx,
    {
      outcome: 'analysed',
      decision: p.decision,
      positiveClass,
      positiveProbability: p.positiveProbability,
      threshold: p.threshold,
      priority: prio.priority,
      ...(p.infection ? { infection: { infectedMl: p.infection.infectedMl, lungMl: p.infection.lungMl, fraction: p.infection.fraction } } : {}),
      ...(byRegion ? { byRegion } : {}),
      keySlices: keys.map((s) => sliceLabel(volume, s.index)),
      algorithm: ctx.algoVersion,
    },
    `Decision ${p.decision}; P(${positiveClass}) ${p.positiveProbability.toFixed(3)} vs threshold ${p.threshold.toFixed(3)}; ` +
      (infected && p.infection ? `infected ${p.infection.infectedMl.toFixed(1)} ml = ${(p.infection.fraction * 100).toFixed(1)}% of lung; ` : '') +
      `priority ${prio.priority}.`,
  );
  return {
    studyUid: study.StudyInstanceUID,
    sr,
    // No key slice (a negative study): nothing drawn and no key-object note; the SR and the summary say so.
    objects: [sr, summary, ...(seg ? [seg] : []), ...(keys.length > 0 ? [...heatMapSeries(ctx, volume, keys), keyObjectSelection(ctx, volume, keys)] : [])],
    summary: {
      outcome: 'analysed',
      priority: prio.priority,
      priorityRank: prio.rank,
      keySlices: keys.map((s) => s.index),
      decision: p.decision,
      label: p.label,
      positiveProbability: p.positiveProbability,
      threshold: p.threshold,
      lesionBurden: burden,
      ...(byRegion ? { infectionByRegion: byRegion } : {}),
      laterality: lat,
      supersedes: input.supersedes?.srSopInstanceUid,
    },
  };
}

/** Structured documents (SR, KOS) are never evidence or library images of a failure report. */
const STRUCTURED_DOCUMENT = /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\./;

/** The examined instances by series (the volume's sources first, then `examined`), without documents or repeats. */
function examinedSeries(v: HuVolume | undefined, examined: ExaminedInstance[]): { seriesUid: string; refs: InstanceRef[] }[] {
  const bySeries = new Map<string, InstanceRef[]>();
  const seen = new Set<string>();
  const push = (seriesUid: string, ref: InstanceRef) => {
    if (STRUCTURED_DOCUMENT.test(ref.sopClassUid) || seen.has(ref.sopInstanceUid)) return;
    seen.add(ref.sopInstanceUid);
    const list = bySeries.get(seriesUid) ?? [];
    list.push(ref);
    bySeries.set(seriesUid, list);
  };
  if (v) v.sources.forEach((_, i) => push(v.seriesUid, sourceRef(v, i)));
  for (const e of examined) push(e.seriesUid, { sopClassUid: e.sopClassUid, sopInstanceUid: e.sopInstanceUid });
  return [...bySeries].map(([seriesUid, refs]) => ({ seriesUid, refs }));
}

/**
 * The image a failure report's group is drawn on: the volume's middle slice, else the middle (by series and Instance
 * Number, whatever order they came in: same UIDs, same content) examined image of known size.
 */
function reportImage(v: HuVolume | undefined, examined: ExaminedInstance[]): ExaminedImage | undefined {
  if (v) return middleImage(v);
  const images = examined
    .filter((e) => !STRUCTURED_DOCUMENT.test(e.sopClassUid) && (e.rows ?? 0) > 0 && (e.columns ?? 0) > 0)
    .sort((a, b) => a.seriesUid.localeCompare(b.seriesUid) || (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0) || a.sopInstanceUid.localeCompare(b.sopInstanceUid));
  const e = images[Math.floor(images.length / 2)];
  return e && { ref: { sopClassUid: e.sopClassUid, sopInstanceUid: e.sopInstanceUid }, rows: e.rows ?? 0, columns: e.columns ?? 0 };
}

/**
 * The result of a study that was not analysed and why (no qualifying series, a decoding or inference failure, not
 * applicable), so the radiologist sees an explicit "no AI result" rather than silence: an SR (sr-document.ts
 * notAnalysedReport) listing the examined instances (the volume's, and `examined`), and the summary page saying why.
 * Deterministic UIDs from the study, the input hash (when a volume exists), the stage, reason and content.
 */
export function failureReport(
  study: StudyContext,
  reason: string | { stage: string; reason: string; details?: string[] },
  opts: { volume?: HuVolume; analysis?: Analysis; supersedes?: Supersedes; now?: Date; examined?: ExaminedInstance[] } = {},
): ResultObjects {
  const f = typeof reason === 'string' ? { stage: 'series-selection', reason } : reason;
  // What else changes the report's content: the details listed and the examined instances.
  const contentKey = createHash('sha256')
    .update(JSON.stringify([f.details ?? [], (opts.examined ?? []).map((e) => e.sopInstanceUid).sort()]))
    .digest('hex');
  const uids = resultUids(study.StudyInstanceUID, opts.volume?.contentHash ?? 'no-input', `failure|${f.stage}|${f.reason}|${modelKey(opts.analysis)}`, `content ${contentKey}`);
  const algorithm = opts.analysis ? algorithmOf(opts.analysis) : new AlgorithmIdentification('lung-triage', DEVICE.softwareVersion);
  const ctx = resultContext(study, uids, algorithm, opts.now ?? new Date(), opts.analysis?.models ?? []);
  const sr = notAnalysedReport(ctx, {
    failure: f,
    examined: examinedSeries(opts.volume, opts.examined ?? []),
    image: reportImage(opts.volume, opts.examined ?? []),
    supersedes: opts.supersedes,
  });
  const stage = stageCode(f.stage).meaning;
  const summary = summaryPage(ctx, { outcome: 'not-analysed', stage, reason: f.reason, algorithm: ctx.algoVersion }, `No AI result (${stage}): ${f.reason}`);
  return {
    studyUid: study.StudyInstanceUID,
    sr,
    objects: [sr, summary],
    summary: {
      outcome: 'not-analysed',
      priority: 'ROUTINE',
      priorityRank: PRIORITY.ROUTINE,
      keySlices: [],
      supersedes: opts.supersedes?.srSopInstanceUid,
      failure: { stage: f.stage, reason: f.reason },
    },
  };
}
