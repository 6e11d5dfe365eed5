import type { DataSource } from 'typeorm';
import type { Analysis } from '../inference/types';
import { log, studyTag } from '../logger';
import { metrics } from '../metrics';
import type { SelectionRules } from '../volume';
import type { Analyzer } from './analyzer';
import { studyVolume, type StudyVolume } from './study-volume';

/** What early inference needs. */
export interface EarlyInferenceDeps {
  ds: DataSource;
  /** The inference workers. */
  analyzer: Analyzer;
  selection?: Partial<SelectionRules>;
  maxSlices?: number;
  /** How long a study must have been quiet after a STOW request before it is analysed early (default 200 ms). */
  settleMs?: number;
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
  expiry?: NodeJS.Timeout;
}

/**
 * Early inference: when a STOW request ends and the gateway is idle, a study's volume is built and analysed during
 * its quiet period, so the job that opens when the quiet period ends finds the work done or under way. The quiet
 * period still decides when a study is complete and when a result is published. The job takes the early work only
 * if the study's instances are exactly those it was done on: stored instances never change, so the count and the
 * sha256 digests recorded at ingest identify them. An instance arriving meanwhile cancels the early work. It lives
 * in memory only (one study at a time); a job in another gateway, or after a restart, does the work itself.
 */
export class EarlyInference {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private preparing?: { studyUid: string; stale: boolean; done: Promise<void> };
  private prepared?: Prepared;
  /** An early analysis is with the workers: one at a time, so early work never queues up behind itself. */
  private running = false;
  private closed = false;

  constructor(private readonly d: EarlyInferenceDeps) {}

  /** A STOW request that stored instances of these studies ended. */
  requestEnded(studyUids: Iterable<string>): void {
    for (const uid of studyUids) {
      clearTimeout(this.timers.get(uid));
      this.timers.set(
        uid,
        setTimeout(() => void this.start(uid), this.d.settleMs ?? 200),
      );
    }
  }

  /** An instance of the study was stored: early work on it is stale. */
  received(studyUid: string): void {
    clearTimeout(this.timers.get(studyUid));
    this.timers.delete(studyUid);
    if (this.preparing?.studyUid === studyUid) this.preparing.stale = true;
    if (this.prepared?.studyUid === studyUid) this.drop('more instances arrived');
  }

  /** The early work on this study, if its instances are still those it was done on; hands it over only once. */
  async take(studyUid: string): Promise<EarlyWork | undefined> {
    if (this.preparing?.studyUid === studyUid) await this.preparing.done;
    const p = this.prepared;
    if (!p || p.studyUid !== studyUid) return undefined;
    this.prepared = undefined;
    clearTimeout(p.expiry);
    if ((await instanceDigest(this.d.ds, studyUid)) !== p.digest) {
      p.cancel();
      return undefined;
    }
    metrics.earlyInference.inc({ outcome: 'used' });
    return p;
  }

  /** Stops early work (gateway shutdown). */
  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
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

  private async start(studyUid: string): Promise<void> {
    this.timers.delete(studyUid);
    if (this.closed || this.preparing || this.running || this.d.busy()) return;
    let finished = () => undefined as void;
    const preparing = { studyUid, stale: false, done: new Promise<void>((r) => (finished = r)) };
    this.preparing = preparing;
    try {
      const quiet = (await this.d.ds.query(
        `SELECT 1 FROM study WHERE study_uid = $1 AND state = 'receiving' AND last_received_at <= now() - make_interval(secs => $2)`,
        [studyUid, (this.d.settleMs ?? 200) / 1000],
      )) as unknown[];
      if (quiet.length === 0) return;
      const digest = await instanceDigest(this.d.ds, studyUid);
      const study = await studyVolume(this.d.ds, studyUid, this.d.selection, this.d.maxSlices);
      if (preparing.stale || this.closed) return;
      this.drop('a newer study is being prepared');
      const abort = new AbortController();
      this.running = true;
      const analysis = this.d.analyzer.analyze(study.volume, { signal: abort.signal });
      // A failure is the job's to see, if it takes the work.
      const idle = () => (this.running = false);
      analysis.then(idle, idle);
      const p: Prepared = { studyUid, digest, study, analysis, cancel: () => abort.abort(new Error('early work not needed')) };
      p.expiry = setTimeout(() => this.prepared === p && this.drop('not claimed in time'), this.d.keepMs ?? 120_000).unref();
      this.prepared = p;
      metrics.earlyInference.inc({ outcome: 'started' });
      log.info('early inference started during the quiet period', { study: studyTag(studyUid), slices: study.volume.slices });
    } catch (e) {
      // The job meets the same problem and reports it; early work just stops.
      log.debug('no early inference for this study', { study: studyTag(studyUid), reason: (e as Error).message });
    } finally {
      this.preparing = undefined;
      finished();
    }
  }
}

/** Identifies the study's instances: stored instances never change, so their count and sha256 digests do. */
async function instanceDigest(ds: DataSource, studyUid: string): Promise<string> {
  const [r] = (await ds.query(`SELECT count(*)::int AS n, md5(string_agg(sha256, ',' ORDER BY sop_instance_uid)) AS digest FROM instance WHERE study_uid = $1 AND purged_at IS NULL`, [
    studyUid,
  ])) as { n: number; digest: string | null }[];
  return `${r.n}:${r.digest ?? ''}`;
}
