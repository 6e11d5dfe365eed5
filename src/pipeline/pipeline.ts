import path from 'node:path';
import type { DataSource } from 'typeorm';
import { appendAudit, audit, type AuditEntry } from '../audit/audit-log';
import {
  advanceJob,
  appendTriageEvent,
  claimJob,
  lastJobError,
  earlierJobWithInput,
  encodedJobs,
  finishEncodedJob,
  hasNewerJob,
  previousSrResult,
  renewLease,
  retryLater,
  failJob,
  type Job,
  type JobAdvance,
  type JobState,
} from '../db/jobs';
import { readPart10 } from '../dicom/dcmjs';
import { recordedHeaders } from '../ingest/instance-store';
import { enqueueResults, jobDeliveryState } from '../egress';
import { isRefusedInput, isTransientFault, LtError } from '../errors';
import type { Analysis } from '../inference/types';
import { log, studyTag, withLogContext } from '../logger';
import { metrics } from '../metrics';
import { buildResults, failureReport, studyContextFromDataset, type ResultObjects, type StudyContext, type Supersedes } from '../results';
import { notApplicableReason } from '../results/analysis-summary';
import { PRIORITY, priorityRank } from '../triage-priority';
import { untilStopped } from '../until-stopped';
import type { HuVolume, InstanceHeader } from '../volume';
import type { SelectionRules } from '../study/series-selection';
import { AnalysisStore } from './analysis-store';
import type { Analyzer } from './analyzer';
import type { EarlyInference, EarlyWork } from './early-inference';
import { maxSeriesNumber, NOT_APPLICABLE, PermanentFailure, studyVolume } from './study-volume';

/** Attempts a job gets (claims, retries of transient failures) before it fails with its report. */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** Transient faults (disk full, workers busy) are retried this long after a job opens: hours, like the outages they come from. */
export const DEFAULT_TRANSIENT_RETRY_SECONDS = 6 * 3600;

/** Longest wait between two tries of a job hit by a transient fault. */
const MAX_TRANSIENT_BACKOFF_MS = 300_000;

/** What the pipeline needs. */
export interface PipelineDeps {
  dataSource: DataSource;
  analyzer: Analyzer;
  /** Where encoded results wait for delivery, and where inference results are kept between stages. */
  workDir: string;
  leaseSeconds: number;
  keySlices: number;
  /** Write a short "not analysed" report for a study that is not a chest CT (LT_REPORT_NOT_APPLICABLE); else nothing goes to the PACS. */
  reportNotApplicable?: boolean;
  selection?: Partial<SelectionRules>;
  maxSlices?: number;
  /** Attempts before a failure that is neither permanent nor transient (a deadline, an internal error) becomes a failure report (default DEFAULT_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** How long after a job opens transient faults (isTransientFault) are retried before it fails (default DEFAULT_TRANSIENT_RETRY_SECONDS). */
  transientRetrySeconds?: number;
  /** Volumes built and analysed during quiet periods (gateway), which jobs take when their study is unchanged. */
  early?: EarlyInference;
  /** Called as a job moves on (progress bar of `analyze`). */
  onStage?: (jobId: number, stage: string) => void;
}

/**
 * The study pipeline: claims a job and carries it through selected -> inferred -> encoded, recording each state,
 * its timing and an audit row, so a crash at any point resumes at the last recorded state. Every stage is
 * deterministic (same input, same result UIDs), which is what makes resuming and retrying safe.
 */
export class Pipeline {
  private readonly analyses: AnalysisStore;
  private readonly outboxDir: string;

  constructor(private readonly deps: PipelineDeps) {
    this.analyses = new AnalysisStore(path.join(deps.workDir, 'analyses'));
    this.outboxDir = path.join(deps.workDir, 'outbox');
  }

  /** Jobs this process is working on. */
  private active = 0;

  /** True while this process has a job in hand. */
  get busy(): boolean {
    return this.active > 0;
  }

  /** Claims and processes one job; false when nothing was runnable. */
  async runOnce(): Promise<boolean> {
    this.active++;
    try {
      const job = await claimJob(this.deps.dataSource, this.deps.leaseSeconds);
      if (!job) return false;
      await withLogContext({ jobId: String(job.id), study: studyTag(job.studyUid), component: 'pipeline' }, () => this.process(job));
      return true;
    } finally {
      this.active--;
    }
  }

  private async process(job: Job): Promise<void> {
    const abort = new AbortController();
    const renew = setInterval(() => {
      renewLease(this.deps.dataSource, job.id, this.deps.leaseSeconds).then(
        (held) => held || abort.abort(new Error('lease lost')),
        () => undefined,
      );
    }, (this.deps.leaseSeconds * 1000) / 3);
    try {
      if (await this.supersededByNewerJob(job)) return;
      if (await this.attemptsExhausted(job)) return;
      await this.stages(job, abort.signal);
    } catch (e) {
      await this.handleFailure(job, e);
    } finally {
      clearInterval(renew);
    }
  }

  /**
   * Claims are counted (claimJob): a job claimed more than maxAttempts times has been retried out, or took its
   * gateway down each time (out of memory, a crash) before a failure could be recorded. It is not run again: it
   * fails with its report, so one bad study cannot keep a crash loop going.
   */
  private get maxAttempts(): number {
    return this.deps.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  }

  private async attemptsExhausted(job: Job): Promise<boolean> {
    const max = this.maxAttempts;
    if (job.attempts <= max) return false;
    const last = await lastJobError(this.deps.dataSource, job.id);
    const reason = `gave up after ${max} attempts: ${last ?? 'the process stopped while working on this study each time (crash or out of memory)'}`;
    log.error('job claimed more often than its attempts allow; writing a failure report', { attempts: job.attempts, maxAttempts: max });
    await audit(this.deps.dataSource, { actor: 'pipeline', action: 'job.attempts-exhausted', outcome: 'failure', studyUid: job.studyUid, detail: { jobId: job.id, attempts: job.attempts, maxAttempts: max } }).catch(
      () => undefined,
    );
    await this.failWithReport(job, stageAt(job), reason, []);
    return true;
  }

  private async supersededByNewerJob(job: Job): Promise<boolean> {
    if (!(await hasNewerJob(this.deps.dataSource, job))) return false;
    await advanceJob(this.deps.dataSource, job.id, 'superseded', { releaseLease: true });
    await audit(this.deps.dataSource, { actor: 'pipeline', action: 'job.superseded', outcome: 'success', studyUid: job.studyUid, detail: { jobId: job.id } });
    log.info('job superseded by a newer job for the same study');
    return true;
  }

  private async stages(job: Job, signal: AbortSignal): Promise<void> {
    const t0 = Date.now();
    const early = await this.deps.early?.take(job.studyUid);
    try {
      await this.stagesFrom(job, signal, t0, early);
    } finally {
      early?.cancel(); // no-op once its analysis is done
    }
  }

  private async stagesFrom(job: Job, signal: AbortSignal, t0: number, early: EarlyWork | undefined): Promise<void> {
    const { volume, chosen, rejections, reason, maxSeriesNumber: maxSeries } = early?.study ?? (await studyVolume(this.deps.dataSource, job.studyUid, this.deps.selection, this.deps.maxSlices));
    const selectSeconds = (Date.now() - t0) / 1000;
    this.deps.onStage?.(job.id, 'selected');

    if (job.state === 'ready') {
      // A study re-sent unchanged (or re-opened by instances that do not change the chosen series) gives no new result.
      const same = await earlierJobWithInput(this.deps.dataSource, job, volume.contentHash);
      if (same) {
        await this.recordStage(
          job,
          'delivered',
          { inputHash: volume.contentHash, result: { ...same.result, unchangedFromJob: same.id }, releaseLease: true },
          { action: 'job.unchanged', detail: { sameAsJob: same.id } },
        );
        log.info('input unchanged since an earlier result: nothing new to produce');
        return;
      }
      await this.recordStage(
        job,
        'selected',
        { inputHash: volume.contentHash, timings: { select: selectSeconds }, result: { seriesUid: volume.seriesUid, slices: volume.slices, rejections, warnings: volume.warnings } },
        { action: 'job.selected', objectUids: [volume.seriesUid], detail: { slices: volume.slices, rejected: rejections, warnings: volume.warnings, reason } },
        { stage: 'select', seconds: selectSeconds },
      );
      job.state = 'selected';
    }

    let analysis = job.state === 'inferred' ? await this.analyses.load(job.id) : undefined;
    if (!analysis) {
      const t1 = Date.now();
      analysis = (early && (await this.earlyAnalysis(early, signal))) || (await this.analyze(job, volume, signal));
      const inferSeconds = (Date.now() - t1) / 1000;
      analysis.sources = volume.sources.map((x) => ({ sopInstanceUid: x.sopInstanceUid, instanceNumber: x.instanceNumber, positionMm: x.position }));
      this.analyses.save(job.id, analysis);
      await this.recordStage(
        job,
        'inferred',
        { timings: { inference: inferSeconds, ...prefixed('worker.', analysis.timingsMs, 1000) } },
        {
          action: 'job.inferred',
          detail: {
            models: analysis.models.map((m) => `${m.role}:${m.name}@${m.version}#${m.sha256.slice(0, 12)}`),
            executionProvider: analysis.executionProvider,
            startedEarly: analysis.startedEarly ?? false,
            slicesReused: analysis.slicesReused ?? 0,
            decision: analysis.patient.decision,
            positiveProbability: analysis.patient.positiveProbability,
          },
        },
        { stage: 'inference', seconds: inferSeconds },
      );
      this.deps.onStage?.(job.id, 'inferred');
    }

    // Gating on the image: a series without enough lung gets a report saying why, and no finding.
    const notApplicable = notApplicableReason(analysis);
    if (notApplicable) throw new PermanentFailure('series-selection', notApplicable);
    const t2 = Date.now();
    const study = this.studyContext(chosen[0], maxSeries);
    const objects = buildResults({ study, volume, analysis, keySlices: this.deps.keySlices, supersedes: await this.previousResult(job) });
    await this.encodeAndEnqueue(job, objects, { encode: (Date.now() - t2) / 1000 }, analysis);
    this.deps.onStage?.(job.id, 'encoded');
  }

  /**
   * Records a step of the job: its new state and a successful audit row in one transaction (a crash leaves both or
   * neither), then the stage's time in the metrics. Encoding, which writes the outbox in the same transaction and
   * needs the lease, and the end states, which add triage events, record themselves.
   */
  private async recordStage(
    job: Job,
    to: JobState,
    fields: JobAdvance,
    entry: Pick<AuditEntry, 'action' | 'objectUids'> & { detail: Record<string, unknown> },
    timed?: { stage: string; seconds: number },
  ): Promise<void> {
    await this.deps.dataSource.transaction(async (tx) => {
      await advanceJob(tx, job.id, to, fields);
      await appendAudit(tx, { actor: 'pipeline', outcome: 'success', studyUid: job.studyUid, ...entry, detail: { jobId: job.id, ...entry.detail } });
    });
    if (timed) metrics.stageSeconds.observe({ stage: timed.stage }, timed.seconds);
  }

  /**
   * The job's own analysis, once the early analysis of part of the study has ended: the workers then hold its
   * slices' results and run the model only on the rest.
   */
  private async analyze(job: Job, volume: HuVolume, signal: AbortSignal): Promise<Analysis> {
    if (this.deps.early) await untilStopped(this.deps.early.warmedUp(job.studyUid), signal);
    return this.deps.analyzer.analyze(volume, { signal });
  }

  /** The early analysis, or undefined when it failed (the job then runs its own). */
  private async earlyAnalysis(early: EarlyWork, signal: AbortSignal): Promise<Analysis | undefined> {
    try {
      return { ...(await untilStopped(early.analysis, signal)), startedEarly: true };
    } catch (e) {
      if (signal.aborted) throw e;
      log.warn('early analysis failed; analysing again', { reason: (e as Error).message });
      return undefined;
    }
  }

  private async encodeAndEnqueue(job: Job, objects: ResultObjects, timings: Record<string, number>, analysis?: Analysis): Promise<void> {
    const s = objects.summary;
    await this.deps.dataSource.transaction(async (tx) => {
      await enqueueResults(tx, job.id, job.studyUid, objects, this.outboxDir);
      const ok = await advanceJob(tx, job.id, 'encoded', {
        timings,
        releaseLease: true,
        priority: s.priorityRank,
        result: {
          priority: s.priority,
          assessment: analysis
            ? {
                label: analysis.patient.label,
                positiveProbability: analysis.patient.positiveProbability,
                threshold: analysis.patient.threshold,
                decision: analysis.patient.decision,
                classProbabilities: Object.fromEntries(analysis.classes.map((c, i) => [c.label, analysis.patient.classProbabilities[i]])),
                ...(analysis.patient.infection
                  ? {
                      infection: {
                        decision: analysis.patient.infection.decision,
                        infectedMl: analysis.patient.infection.infectedMl,
                        lungMl: analysis.patient.infection.lungMl,
                        fraction: analysis.patient.infection.fraction,
                        byRegion: s.infectionByRegion,
                      },
                    }
                  : {}),
              }
            : undefined,
          resultUids: objects.objects.map((o) => o.sopInstanceUid),
          srSopInstanceUid: objects.sr.sopInstanceUid,
          srSeriesInstanceUid: objects.sr.seriesInstanceUid,
          keySlices: s.keySlices,
          lesionBurden: s.lesionBurden,
          laterality: s.laterality,
          failure: s.failure,
          modelVersion: analysis ? analysis.models.map((m) => `${m.name}@${m.version}`).join(',') : undefined,
        },
      });
      if (!ok) throw LtError.conflict('lease lost before encoding was recorded');
      await appendAudit(tx, {
        actor: 'pipeline',
        action: s.failure ? 'job.failure-report' : 'job.encoded',
        outcome: s.failure ? 'failure' : 'success',
        studyUid: job.studyUid,
        objectUids: objects.objects.map((o) => o.sopInstanceUid),
        detail: { jobId: job.id, priority: s.priority, keySlices: s.keySlices, failure: s.failure, supersedes: s.supersedes },
      });
    });
    metrics.stageSeconds.observe({ stage: 'encode' }, timings.encode ?? 0);
  }

  private async handleFailure(job: Job, e: unknown): Promise<void> {
    const permanent = e instanceof PermanentFailure || isRefusedInput(e);
    const message = (e as Error).message || 'unknown error';
    if (!permanent && isTransientFault(e)) {
      if (await this.retryTransient(job, message)) return;
      const window = this.deps.transientRetrySeconds ?? DEFAULT_TRANSIENT_RETRY_SECONDS;
      return this.fail(job, stageAt(job), `still failing after ${window} s of retries (LT_TRANSIENT_RETRY_SECONDS): ${message}`, []);
    }
    if (!permanent && job.attempts < this.maxAttempts) {
      const delay = Math.min(300_000, 2000 * 2 ** (job.attempts - 1)) * (0.5 + Math.random() / 2);
      log.warn('stage failed, will retry', { state: job.state, attempt: job.attempts, retryInMs: Math.round(delay), reason: message });
      await retryLater(this.deps.dataSource, job.id, delay, message).catch(() => undefined);
      await audit(this.deps.dataSource, { actor: 'pipeline', action: 'job.retry', outcome: 'warning', studyUid: job.studyUid, detail: { jobId: job.id, state: job.state, attempt: job.attempts, reason: message } }).catch(
        () => undefined,
      );
      return;
    }
    const stage = e instanceof PermanentFailure ? e.stage : stageAt(job);
    if (e instanceof PermanentFailure && message.startsWith(NOT_APPLICABLE) && !this.deps.reportNotApplicable) {
      await this.notApplicable(job, stage, message, e.details);
      return;
    }
    await this.fail(job, stage, message, e instanceof PermanentFailure ? e.details : []);
  }

  /**
   * Schedules another try after a transient fault (transientBackoffMs); false once LT_TRANSIENT_RETRY_SECONDS have
   * passed since the job opened.
   */
  private async retryTransient(job: Job, reason: string): Promise<boolean> {
    const openMs = Date.now() - job.createdAt.getTime();
    if (openMs >= (this.deps.transientRetrySeconds ?? DEFAULT_TRANSIENT_RETRY_SECONDS) * 1000) return false;
    const delay = transientBackoffMs(job);
    log.warn('transient fault, will retry', { state: job.state, retryInMs: Math.round(delay), reason });
    await retryLater(this.deps.dataSource, job.id, delay, reason, { transient: true }).catch(() => undefined);
    await audit(this.deps.dataSource, { actor: 'pipeline', action: 'job.retry', outcome: 'warning', studyUid: job.studyUid, detail: { jobId: job.id, state: job.state, transient: true, reason } }).catch(
      () => undefined,
    );
    return true;
  }

  private async fail(job: Job, stage: string, reason: string, details: string[]): Promise<void> {
    log.error('job failed; writing a report that says why', { stage, reason: reason.slice(0, 300) });
    await this.failWithReport(job, stage, reason, details);
  }

  /**
   * Ends a job whose study is not a chest CT the model covers, writing nothing to the PACS: state 'failed' with the
   * reason, a `job.not_applicable` audit row and a `study.not_applicable` triage event.
   */
  private async notApplicable(job: Job, stage: string, reason: string, details: string[]): Promise<void> {
    log.info('study not applicable; nothing written to the PACS', { stage, reason: reason.slice(0, 300) });
    await this.deps.dataSource.transaction(async (tx) => {
      if (!(await advanceJob(tx, job.id, 'failed', { error: reason, releaseLease: true, result: { failure: { stage, reason } } }))) return;
      await appendTriageEvent(tx, { kind: 'study.not_applicable', studyUid: job.studyUid, jobId: job.id, priority: PRIORITY.ROUTINE, payload: { error: reason } });
      await appendAudit(tx, { actor: 'pipeline', action: 'job.not_applicable', outcome: 'success', studyUid: job.studyUid, detail: { jobId: job.id, stage, reason, details } });
    });
    metrics.jobsFinished.inc({ state: 'not_applicable' });
  }

  /**
   * Ends a job in a failure report (SR saying why). When a transient fault keeps even that from being written (the
   * disk still full), the job is tried again later; otherwise it ends 'failed' with its 'study.failed' event.
   */
  private async failWithReport(job: Job, stage: string, reason: string, details: string[]): Promise<void> {
    try {
      const headers = await recordedHeaders(this.deps.dataSource, job.studyUid);
      // Any header that names its instance carries the Patient and Study modules, even one whose pixel data was refused.
      const study = this.studyContext(headers.find((h) => !h.error) ?? headers.find((h) => h.sopInstanceUid), maxSeriesNumber(headers).maxSeriesNumber);
      // The report lists what was examined and not used, so a reader sees which series were looked at.
      const examined = headers
        .filter((h) => !h.error && h.sopInstanceUid)
        .map((h) => ({ seriesUid: h.seriesUid, sopClassUid: h.sopClassUid, sopInstanceUid: h.sopInstanceUid, rows: h.rows, columns: h.columns, instanceNumber: h.instanceNumber }));
      const objects = failureReport(study, { stage, reason, details }, { supersedes: await this.previousResult(job), examined });
      await this.encodeAndEnqueue(job, objects, {});
    } catch (inner) {
      if (isTransientFault(inner)) {
        log.warn('failure report could not be written yet; will retry', { err: inner });
        await retryLater(this.deps.dataSource, job.id, transientBackoffMs(job), reason, { transient: true }).catch(() => undefined);
        return;
      }
      log.error('failure report could not be written', { err: inner });
      await failJob(this.deps.dataSource, job, reason).catch((e: unknown) => log.error('job could not be marked failed', { err: e }));
    }
  }

  /**
   * Moves encoded jobs whose results are all delivered (or finally refused) to their end state, and announces them:
   * 'result.ready' with the triage priority, or 'study.failed'. Safe to run in several gateways at once.
   */
  async finalize(): Promise<number> {
    const jobs = await encodedJobs(this.deps.dataSource);
    let n = 0;
    for (const j of jobs) {
      const delivery = await jobDeliveryState(this.deps.dataSource, j.id);
      if (delivery.state === 'pending') continue;
      const failure = j.result.failure;
      const end = failure || delivery.state !== 'delivered' ? 'failed' : 'delivered';
      const error = failure ? `${failure.stage}: ${failure.reason}` : delivery.state !== 'delivered' ? `delivery failed for ${delivery.failed} instance(s)` : null;
      const done = await this.deps.dataSource.transaction(async (tx) => {
        if (!(await finishEncodedJob(tx, j.id, end, error))) return false;
        await appendTriageEvent(tx, {
          kind: end === 'delivered' ? 'result.ready' : 'study.failed',
          studyUid: j.studyUid,
          jobId: j.id,
          priority: priorityRank(j.result.priority),
          payload: { assessment: j.result.assessment, error },
        });
        await appendAudit(tx, {
          actor: 'pipeline',
          action: end === 'delivered' ? 'job.delivered' : 'job.failed',
          outcome: end === 'delivered' ? 'success' : 'failure',
          studyUid: j.studyUid,
          detail: { jobId: j.id, delivered: delivery.delivered, failed: delivery.failed, error },
        });
        return true;
      });
      if (done) {
        n++;
        metrics.jobsFinished.inc({ state: end });
        await this.analyses.remove(j.id);
        log.info('job finished', { jobId: j.id, state: end, priority: j.result.priority });
      }
    }
    return n;
  }

  /**
   * The Patient and Study modules from one header, as ingest recorded them; the largest Series Number of the study,
   * so results sort after it.
   */
  private studyContext(h: InstanceHeader | undefined, maxSeries: number | undefined): StudyContext {
    if (!h?.patientStudy) throw new PermanentFailure('series-selection', 'no readable instance in the study');
    const ctx = studyContextFromDataset(readPart10(h.patientStudy).dataset);
    return maxSeries !== undefined ? { ...ctx, MaxSeriesNumber: maxSeries } : ctx;
  }

  /** The SR of the last result delivered for this study, which a new result supersedes. */
  private async previousResult(job: Job): Promise<Supersedes | undefined> {
    const r = await previousSrResult(this.deps.dataSource, job);
    return r?.srSopInstanceUid && r.srSeriesInstanceUid ? { srSopInstanceUid: r.srSopInstanceUid, srSeriesInstanceUid: r.srSeriesInstanceUid, otherSopInstanceUids: r.resultUids } : undefined;
  }
}

/** The wait before the next try after a transient fault: half the time the job has been open, 1 s to 5 min, jittered. */
function transientBackoffMs(job: Job): number {
  const openMs = Date.now() - job.createdAt.getTime();
  return Math.min(MAX_TRANSIENT_BACKOFF_MS, Math.max(1000, openMs / 2)) * (0.5 + Math.random() / 2);
}

/** The stage a job was in when it failed, named from its last recorded state. */
function stageAt(job: Job): string {
  return job.state === 'selected' ? 'inference' : job.state === 'ready' ? 'volume' : 'encoding';
}

function prefixed(prefix: string, ms: Record<string, number>, div: number): Record<string, number> {
  return Object.fromEntries(Object.entries(ms).map(([k, v]) => [`${prefix}${k}`, v / div]));
}
