import type { DataSource } from 'typeorm';
import { isValidUid } from '../dicom/uid';
import { PacsDicomWebClient } from '../dicom/dicomweb';
import { createPacsAuth, pacsHttpsAgent, type PacsConfig } from '../dicom/pacs-auth';
import { Tags, tagKey } from '../dicom/tags';
import { LtError } from '../errors';
import { log, studyTag } from '../logger';
import { openJob } from '../study/completeness';
import { acceptInstanceFile, writeFailure } from './accept';
import type { InstanceRecorder } from './instance-store';
import type { Spool } from './spool';
import type { PartOutcome } from './stow-response';

/** Result of a pull: how many instances came, and the job that will triage the study. */
export interface PullResult {
  retrieved: number;
  failed: PartOutcome[];
  jobId: number;
}

/** Default time limit of each PACS request during a pull. */
export const PULL_TIMEOUT_MS = 120_000;

/** What a pull needs: the store, and the PACS (with its CA, LT_PACS_CA) and a per-request time limit. */
export interface PullDeps {
  ds: DataSource;
  spool: Spool;
  recorder: InstanceRecorder;
  pacs?: PacsConfig;
  /** Time limit of each QIDO-RS / WADO-RS request (default {@link PULL_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** A DICOMweb client to the PACS with its auth, CA and a time limit on each request. */
export async function pacsClient(pacs: PacsConfig, timeoutMs: number): Promise<PacsDicomWebClient> {
  const httpsAgent = pacsHttpsAgent(pacs);
  const authorization = await createPacsAuth(pacs, httpsAgent).authorization();
  return new PacsDicomWebClient({ url: pacs.url, headers: authorization ? { Authorization: authorization } : {}, httpsAgent, timeoutMs });
}

/**
 * Pulls a study from the PACS (QIDO-RS to list its instances, then WADO-RS one instance at a time so memory stays
 * bounded), stores each through the same path as STOW-RS, and opens a job straight away: the study is complete.
 * Requests go through the one DICOMweb wrapper, trusting LT_PACS_CA and under a time limit.
 */
export async function pullStudy(deps: PullDeps, studyUid: string, actor: string): Promise<PullResult> {
  if (!isValidUid(studyUid)) throw LtError.invalid('study_instance_uid is not a valid UID');
  if (!deps.pacs) throw LtError.conflict('no PACS is configured (LT_PACS_URL): a study can only be pushed');
  const client = await pacsClient(deps.pacs, deps.timeoutMs ?? PULL_TIMEOUT_MS);
  let listing: Record<string, { Value?: unknown[] }>[];
  try {
    listing = await client.searchForInstances({ studyInstanceUID: studyUid });
  } catch (e) {
    throw LtError.unavailable(`the PACS did not answer the instance query: ${describePacsError(e)}`);
  }
  if (!Array.isArray(listing) || listing.length === 0) throw LtError.notFound('the PACS has no instances for this study');
  const failed: PartOutcome[] = [];
  let retrieved = 0;
  for (const item of listing) {
    const seriesInstanceUID = item[tagKey(Tags.SeriesInstanceUID)]?.Value?.[0];
    const sopInstanceUID = item[tagKey(Tags.SOPInstanceUID)]?.Value?.[0];
    if (typeof seriesInstanceUID !== 'string' || typeof sopInstanceUID !== 'string') continue;
    if (!seriesInstanceUID || !sopInstanceUID) continue;
    let bytes: Buffer;
    try {
      bytes = Buffer.from(await client.retrieveInstance({ studyInstanceUID: studyUid, seriesInstanceUID, sopInstanceUID }));
    } catch (e) {
      throw LtError.unavailable(`WADO-RS retrieve failed: ${describePacsError(e)}`);
    }
    const incoming = await deps.spool.incoming();
    try {
      await incoming.write(bytes);
    } catch (e) {
      await incoming.discard();
      failed.push({ sopInstanceUid: sopInstanceUID, ...writeFailure(e) });
      continue;
    }
    const sha256 = await incoming.finish();
    const outcome = await acceptInstanceFile(deps, { path: incoming.path, size: incoming.size, sha256 }, { actor, expectedStudyUid: studyUid, source: 'pull' });
    if (outcome.failureReason !== undefined) failed.push(outcome);
    else retrieved++;
  }
  if (retrieved === 0) throw LtError.invalid(`none of the study's ${listing.length} instances could be stored`);
  const [{ n }] = (await deps.ds.query(`SELECT instance_count AS n FROM study WHERE study_uid = $1`, [studyUid])) as { n: number }[];
  const job = await deps.ds.transaction((tx) => openJob(tx, studyUid, n, actor, { pulled: retrieved }));
  log.info('study pulled from the PACS', { study: studyTag(studyUid), retrieved, failed: failed.length });
  return { retrieved, failed, jobId: job.jobId };
}

/** A PACS request failure in words (status, or why there was no answer). */
export function describePacsError(e: unknown): string {
  const x = e as { status?: number; message?: string };
  if (x?.status) return `HTTP ${x.status}`;
  // Status 0 with dicomweb-client's 'request failed': no HTTP answer at all (xhr2 does not keep the cause).
  if (x?.message === 'request failed') return 'no answer (connection refused or reset, or a TLS certificate not trusted: check LT_PACS_CA)';
  return (x?.message ?? 'error').slice(0, 200);
}
