import { decodeStoreResponse } from '../dicom/store-response';
import { DicomReason } from '../errors';

/** One instance to deliver. */
export interface OutgoingInstance {
  sopInstanceUid: string;
  sopClassUid: string;
  bytes: Buffer;
}

/** What happened to one instance: stored, worth retrying later, or failed for good. */
export interface InstanceOutcome {
  sopInstanceUid: string;
  result: 'stored' | 'retry' | 'failed';
  reason?: string;
}

/** The outcome of one delivery attempt (one request). */
export interface StoreResult {
  /** HTTP status, 0 when no answer came (connection refused, reset, timeout); absent for non-HTTP targets. */
  httpStatus?: number;
  outcomes: InstanceOutcome[];
  /** Server-requested delay (Retry-After), if any. */
  retryAfterMs?: number;
  error?: string;
}

/** Where results go: a PACS over STOW-RS, or a local folder when no PACS is configured. */
export interface DeliveryTarget {
  /** A short description for audit (no credentials). */
  readonly description: string;
  store(studyUid: string, instances: OutgoingInstance[]): Promise<StoreResult>;
  /**
   * Whether the destination holds the study itself (images of its own, not only our results), so results join it
   * instead of making an AI-only study. Rejects when the destination does not answer (the caller retries).
   * Absent: every study belongs (a local folder).
   */
  holdsStudy?(studyUid: string): Promise<boolean>;
}

/** SOP instance already stored (dicom-server's 45070 = 0xB00E in FailedSOPSequence): the same UID means the same result. */
const ALREADY_STORED = new Set<number>([DicomReason.DuplicateDifferentContent]);

/**
 * Whether a per-instance FailureReason is worth retrying: out of resources (A7xx) always; a generic processing
 * failure (0110) or no reason only within a 202 (some stored, so the PACS works). Within a 409 (none stored, e.g.
 * Orthanc's study UID mismatch answers 0110) they are failures that a retry would only repeat.
 */
export function isTransientFailure(reason: number | undefined, httpStatus = 202): boolean {
  if (reason !== undefined && (reason & 0xff00) === 0xa700) return true;
  if (httpStatus !== 202) return false;
  return reason === undefined || reason === DicomReason.ProcessingFailure;
}

/** Whether an HTTP status (0 = no answer) means "try again later" for the whole request. */
export function isTransientStatus(status: number): boolean {
  return status === 0 || status === 401 || status === 403 || status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * Maps a STOW-RS answer to per-instance outcomes:
 * - 200: everything stored (failures listed anyway are honoured);
 * - 202 / 409 with a response body: referenced = stored, failed = by FailureReason (see isTransientFailure;
 *   "already exists" counted as stored, the rest failed for good); instances the answer does not mention are
 *   retried on 202 and failed on 409;
 * - 409 without a body (Orthanc: study UID mismatch), 400, 404, 413, 415 and other 4xx: failed for good;
 * - no answer, 401/403 (credentials may be refreshed), 408, 429, 5xx: retried.
 */
export function classifyStowAnswer(status: number, body: unknown, sent: OutgoingInstance[]): InstanceOutcome[] {
  const uids = sent.map((s) => s.sopInstanceUid);
  if (isTransientStatus(status)) return uids.map((u) => ({ sopInstanceUid: u, result: 'retry', reason: status ? `HTTP ${status}` : 'no answer' }));
  const parsed = status === 200 || status === 202 || status === 409 ? decodeStoreResponse(body) : undefined;
  const byUid = new Map<string, InstanceOutcome>();
  if (parsed) {
    for (const r of parsed.referenced)
      byUid.set(r.sopInstanceUid, { sopInstanceUid: r.sopInstanceUid, result: 'stored', reason: r.warningReason ? `warning 0x${r.warningReason.toString(16)}` : undefined });
    for (const f of parsed.failed) {
      if (!f.sopInstanceUid) continue; // names no instance of ours
      const reason = f.failureReason;
      const hex = reason !== undefined ? `0x${reason.toString(16).toUpperCase()}` : 'unspecified';
      const result = reason !== undefined && ALREADY_STORED.has(reason) ? 'stored' : isTransientFailure(reason, status) ? 'retry' : 'failed';
      byUid.set(f.sopInstanceUid, { sopInstanceUid: f.sopInstanceUid, result, reason: `HTTP ${status}, FailureReason ${hex}` });
    }
  }
  const unmentioned: InstanceOutcome['result'] = status === 200 ? 'stored' : status === 202 ? 'retry' : 'failed';
  return uids.map((u) => byUid.get(u) ?? { sopInstanceUid: u, result: unmentioned, reason: status === 200 ? undefined : `HTTP ${status}` });
}
