import type { DataSource } from 'typeorm';
import type { PacsDicomWebClient } from '../dicom/dicomweb';
import type { PacsConfig } from '../dicom/pacs-auth';
import { Tags, tagKey } from '../dicom/tags';
import { log, studyTag } from '../logger';
import { metrics } from '../metrics';
import { describePacsError, pacsClient } from '../ingest/pull';
import { openJob, type ReadyStudy } from './completeness';

/** Time limit of each count query: a PACS slower than this leaves the study to the quiet period. */
const COUNT_TIMEOUT_MS = 2000;

/**
 * The PACS is asked twice, this far apart, and must give the same count both times: a PACS still receiving the
 * study itself (forwarding instance by instance) shows a growing count, and the study is left to the quiet period.
 */
const RECHECK_MS = 500;

/** Why a check did or did not open the study's job (the label of lt_pacs_completeness_checks_total). */
export type PacsCheckOutcome = 'complete' | 'counts_differ' | 'pacs_growing' | 'unknown_to_pacs' | 'pacs_unavailable' | 'skipped';

/** What the PACS completeness check needs. */
export interface PacsCompletenessDeps {
  dataSource: DataSource;
  pacs: PacsConfig;
  /** Studies a request or association of this process is still delivering: never complete. */
  inFlight: () => string[];
  /** A study this check opened the job of. */
  onReady: (study: ReadyStudy) => void;
}

/**
 * Completeness without a blind wait: when a STOW request or DIMSE association that stored instances of a study
 * ends, the PACS is asked (QIDO-RS, NumberOfStudyRelatedInstances) how many instances it holds, and the job opens
 * at once when we hold exactly that many. Anything else (the PACS does not answer in time, does not know the study,
 * holds more or fewer, or its count grows between two queries) leaves the study to the quiet period, as before.
 * The job opens in a transaction that locks the study row and compares the count again, so the quiet period and
 * this check (in this gateway or another) never both open one; an instance arriving after the job opened
 * reopens the study, and its next job supersedes this one, as always.
 */
export class PacsCompleteness {
  /** Studies being checked, and whether another request ended meanwhile (check again once this one is done). */
  private readonly checking = new Map<string, { again: boolean }>();
  private client?: Promise<PacsDicomWebClient>;
  private closed = false;

  constructor(private readonly deps: PacsCompletenessDeps) {}

  /** A request or association that stored instances of these studies ended. */
  requestEnded(studyUids: Iterable<string>): void {
    for (const uid of studyUids) {
      const running = this.checking.get(uid);
      if (running) running.again = true;
      else void this.run(uid);
    }
  }

  close(): void {
    this.closed = true;
  }

  private async run(studyUid: string): Promise<void> {
    const state = { again: false };
    this.checking.set(studyUid, state);
    try {
      do {
        state.again = false;
        const outcome = await this.check(studyUid).catch((e: unknown) => {
          log.debug('PACS completeness check failed; the quiet period decides', { study: studyTag(studyUid), reason: (e as Error).message });
          return 'skipped' as const;
        });
        metrics.pacsCompletenessChecks.inc({ outcome });
      } while (state.again && !this.closed);
    } finally {
      this.checking.delete(studyUid);
    }
  }

  /** One check: opens the job when the PACS holds (twice) exactly the instances we hold. */
  async check(studyUid: string): Promise<PacsCheckOutcome> {
    if (this.closed || this.deps.inFlight().includes(studyUid)) return 'skipped';
    const held = await this.heldCount(studyUid);
    if (held === undefined) return 'skipped';
    const first = await this.pacsCount(studyUid);
    if (typeof first === 'string') return first;
    if (first !== held) return 'counts_differ';
    await new Promise((r) => setTimeout(r, RECHECK_MS));
    const second = await this.pacsCount(studyUid);
    if (typeof second === 'string') return second;
    if (second !== first) return 'pacs_growing';
    if (this.closed) return 'skipped';
    const opened = await this.deps.dataSource.transaction(async (tx) => {
      const [row] = (await tx.query(`SELECT instance_count FROM study WHERE study_uid = $1 AND state = 'receiving' FOR UPDATE`, [studyUid])) as { instance_count: number }[];
      // Locked now: no instance can be recorded, nor the quiet period open a job, until this transaction ends.
      if (!row || this.deps.inFlight().includes(studyUid)) return 'skipped';
      if (row.instance_count !== second) return 'counts_differ';
      return openJob(tx, studyUid, row.instance_count, 'gateway', { completedBy: 'pacs-count', pacsInstances: second });
    });
    if (typeof opened === 'string') return opened;
    log.info('study complete: the PACS holds the instances received', { study: studyTag(studyUid), jobId: String(opened.jobId), instances: opened.instances });
    this.deps.onReady(opened);
    return 'complete';
  }

  /** The instances we hold of a study that is still receiving (undefined otherwise: nothing to decide). */
  private async heldCount(studyUid: string): Promise<number | undefined> {
    const [row] = (await this.deps.dataSource.query(`SELECT instance_count FROM study WHERE study_uid = $1 AND state = 'receiving'`, [studyUid])) as { instance_count: number }[];
    return row?.instance_count;
  }

  /** The PACS's NumberOfStudyRelatedInstances, or why there is none. */
  private async pacsCount(studyUid: string): Promise<number | 'unknown_to_pacs' | 'pacs_unavailable'> {
    let studies;
    try {
      this.client ??= pacsClient(this.deps.pacs, COUNT_TIMEOUT_MS);
      const client = await this.client;
      studies = await client.searchForStudies({ queryParams: { StudyInstanceUID: studyUid, includefield: tagKey(Tags.NumberOfStudyRelatedInstances) } });
    } catch (e) {
      this.client = undefined; // a new one next time (an OAuth token may have expired)
      log.debug('PACS completeness: no answer; the quiet period decides', { study: studyTag(studyUid), reason: describePacsError(e) });
      return 'pacs_unavailable';
    }
    const study = (Array.isArray(studies) ? studies : []).find((s) => s[tagKey(Tags.StudyInstanceUID)]?.Value?.[0] === studyUid);
    const n = Number(study?.[tagKey(Tags.NumberOfStudyRelatedInstances)]?.Value?.[0]);
    return Number.isInteger(n) && n > 0 ? n : 'unknown_to_pacs';
  }
}
