import type { DataSource } from 'typeorm';
import type { Analysis } from '../inference/types';
import { log, studyTag } from '../logger';
import { metrics } from '../metrics';
import type { SelectionRules } from '../study/series-selection';
import type { Analyzer } from './analyzer';
import { studyVolume, type StudyVolume } from './study-volume';

/**
 * While a study streams in (one long request, as Orthanc forwards a study), an analysis of what it holds starts
 * after this many new instances: about one model batch, so each analysis has work for the model, and a study's
 * headers are not read again for every instance.
 */
const STREAMING_STEP = 16;

/** What early inference needs. */
export interface EarlyInferenceDeps {
  dataSource: DataSource;
  /** The inference workers. */
  analyzer: Analyzer;
  selection?: Partial<SelectionRules>;
  maxSlices?: number;
  /** True while the pipeline has a job in hand: early inference only uses idle time. */
  busy: () => boolean;
  /** How long early work nobody asked for is kept (default 2 minutes). */
  keepMs?: number;
}

/** Early work on a study whose instances are still exactly those it was done on. */
export interface EarlyWork {
  study: StudyVolume;
  /** The analysis of study.volume (resolves when the workers are done). */
  analysis: Promise<Analysis>;
  /** Stops the analysis when the job does not need it. */
  cancel(): void;
}

interface Prepared extends EarlyWork {
  studyUid: string;
  digest: string;
  /** Instances arrived after the volume was read: the analysis is of part of the study only. */
  stale: boolean;
  expiry?: NodeJS.Timeout;
}

/**
 * Early inference: when a STOW request or DIMSE association ends, or every STREAMING_STEP instances while one still
 * streams, and the gateway is idle, the volume of what the study holds so far is built and analysed, while the rest
 * may still arrive and before anything calls it complete.
 * The workers keep each slice's results (their slice cache), so this work is never lost: an analysis of part of
 * the study runs to its end, the next one (started when it ends, with every instance held by then) runs the model
 * only on the new slices, and so does the job's own analysis. The job takes an early analysis as its result only
 * if the study's instances are exactly those it was done on: stored instances never change, so the count and the
 * sha256 digests recorded at ingest identify them; otherwise it waits for the early analysis under way (its slices
 * are the study's) and analyses the whole volume, reusing them. Completeness and publication are decided as
 * before. It lives in memory only (one analysis at a time); a job in another gateway, or after a restart, does the
 * work itself, and a worker whose cache lacks the slices just runs the model on them.
 */
export class EarlyInference {
  /** Studies whose request ended (or that received STREAMING_STEP instances) while an analysis ran: analysed next, the latest first. */
  private readonly next = new Set<string>();
  /** Instances stored per study since its last analysis started or its last request ended. */
  private readonly arrived = new Map<string, number>();
  private preparing?: { studyUid: string; stale: boolean; done: Promise<void> };
  private prepared?: Prepared;
  /** An early analysis is with the workers: one at a time, so early work never queues up behind itself. */
  private running?: Promise<void>;
  /** The analysis of part of a study a job has opened for: the job waits for it before analysing the whole. */
  private warming?: { studyUid: string; done: Promise<void> };
  private closed = false;

  constructor(private readonly deps: EarlyInferenceDeps) {}

  /** A STOW request or DIMSE association that stored instances of these studies ended. */
  requestEnded(studyUids: Iterable<string>): void {
    for (const uid of studyUids) this.wanted(uid);
    this.startNext();
  }

  /**
   * An instance of the study was stored: early work on it covers part of the study only. Every STREAMING_STEP
   * instances the study is due for an analysis of what it holds, so slices are analysed while the rest arrive.
   */
  received(studyUid: string): void {
    if (this.preparing?.studyUid === studyUid) this.preparing.stale = true;
    if (this.prepared?.studyUid === studyUid) this.prepared.stale = true;
    const n = (this.arrived.get(studyUid) ?? 0) + 1;
    this.arrived.set(studyUid, n);
    if (n < STREAMING_STEP) return;
    this.wanted(studyUid);
    this.startNext();
  }

  private wanted(studyUid: string): void {
    this.arrived.delete(studyUid);
    this.next.delete(studyUid);
    this.next.add(studyUid);
  }

  /**
   * The early work on this study, if its instances are still those it was done on; hands it over only once.
   * Otherwise undefined, and the early analysis of part of the study goes on: {@link warmedUp} says when it ends.
   */
  async take(studyUid: string): Promise<EarlyWork | undefined> {
    this.next.delete(studyUid);
    this.arrived.delete(studyUid);
    if (this.preparing?.studyUid === studyUid) await this.preparing.done;
    const p = this.prepared;
    if (!p || p.studyUid !== studyUid) return undefined;
    this.prepared = undefined;
    clearTimeout(p.expiry);
    if (p.stale || (await instanceDigest(this.deps.dataSource, studyUid)) !== p.digest) {
      this.warming = { studyUid, done: p.analysis.then(noop, noop) };
      return undefined;
    }
    metrics.earlyInference.inc({ outcome: 'used' });
    return p;
  }

  /**
   * Resolves when the early analysis of part of this study (that take() did not hand over) has ended: the slices
   * it covered are then in the workers' cache, and the job's own analysis runs the model only on the rest.
   */
  warmedUp(studyUid: string): Promise<void> {
    const w = this.warming;
    if (w?.studyUid !== studyUid) return Promise.resolve();
    this.warming = undefined;
    return w.done;
  }

  /** Stops early work (gateway shutdown). */
  close(): void {
    this.closed = true;
    this.next.clear();
    this.arrived.clear();
    this.drop('gateway stopping');
  }

  private drop(reason: string): void {
    const p = this.prepared;
    this.prepared = undefined;
    if (!p) return;
    clearTimeout(p.expiry);
    p.cancel();
    log.debug('early work dropped', { study: studyTag(p.studyUid), reason });
  }

  /** Starts the analysis of the study whose request ended last, if the gateway and the workers are idle. */
  private startNext(): void {
    if (this.closed || this.preparing || this.running || this.deps.busy()) return;
    const uid = [...this.next].pop();
    if (uid === undefined) return;
    this.next.delete(uid);
    this.arrived.delete(uid);
    void this.start(uid);
  }

  private async start(studyUid: string): Promise<void> {
    let finished = () => undefined as void;
    const preparing = { studyUid, stale: false, done: new Promise<void>((r) => (finished = r)) };
    this.preparing = preparing;
    try {
      const receiving = (await this.deps.dataSource.query(`SELECT 1 FROM study WHERE study_uid = $1 AND state = 'receiving'`, [studyUid])) as unknown[];
      if (receiving.length === 0) return;
      const digest = await instanceDigest(this.deps.dataSource, studyUid);
      const study = await studyVolume(this.deps.dataSource, studyUid, this.deps.selection, this.deps.maxSlices);
      if (this.closed) return;
      this.drop('a newer analysis is starting');
      const abort = new AbortController();
      const analysis = this.deps.analyzer.analyze(study.volume, { signal: abort.signal });
      // A failure is the job's to see, if it takes the work; the next study waiting is started either way.
      this.running = analysis.then(noop, noop).then(() => {
        this.running = undefined;
        this.startNext();
      });
      const p: Prepared = { studyUid, digest, study, analysis, stale: preparing.stale, cancel: () => abort.abort(new Error('early work not needed')) };
      p.expiry = setTimeout(() => this.prepared === p && this.drop('not claimed in time'), this.deps.keepMs ?? 120_000).unref();
      this.prepared = p;
      metrics.earlyInference.inc({ outcome: 'started' });
      log.info('early inference started', { study: studyTag(studyUid), slices: study.volume.slices });
    } catch (e) {
      // The job meets the same problem and reports it (or, with more instances, does not); early work just stops.
      log.debug('no early inference for this study', { study: studyTag(studyUid), reason: (e as Error).message });
    } finally {
      this.preparing = undefined;
      finished();
      this.startNext();
    }
  }
}

const noop = (): void => undefined;

/** Identifies the study's instances: stored instances never change, so their count and sha256 digests do. */
async function instanceDigest(dataSource: DataSource, studyUid: string): Promise<string> {
  const [r] = (await dataSource.query(`SELECT count(*)::int AS n, md5(string_agg(sha256, ',' ORDER BY sop_instance_uid)) AS digest FROM instance WHERE study_uid = $1 AND purged_at IS NULL`, [
    studyUid,
  ])) as { n: number; digest: string | null }[];
  return `${r.n}:${r.digest ?? ''}`;
}
