import { promises as fs } from 'node:fs';
import { DicomReason, isDatabaseUnavailable, isOutOfFileDescriptors, isStorageFull, LtError } from '../errors';
import { log, studyTag } from '../logger';
import { metrics } from '../metrics';
import type { InstanceRecorder } from './instance-store';
import { readInstanceInfo } from './part10';
import type { Spool } from './spool';
import type { PartOutcome } from './stow-response';

/** What accepting an instance needs. */
export interface AcceptDeps {
  spool: Spool;
  recorder: InstanceRecorder;
  /** Most bytes a deflated data set may inflate to (LT_MAX_INFLATED_BYTES; default DEFAULT_MAX_INFLATED_BYTES). */
  maxInflatedBytes?: number;
}

/** A received file, already complete and fsynced in the spool's incoming folder. */
export interface ReceivedFile {
  path: string;
  size: number;
  sha256: string;
}

/**
 * The outcome for a write that failed: out of resources, to be retried, when the disk is full or the process is out
 * of file descriptors (503 with Retry-After when nothing was stored); else a processing failure.
 */
export function writeFailure(e: unknown): PartOutcome {
  log.error('spool write failed', { code: (e as NodeJS.ErrnoException | undefined)?.code });
  if (isStorageFull(e)) return { failureReason: DicomReason.OutOfResources, transient: true, message: 'storage full' };
  if (isOutOfFileDescriptors(e)) return { failureReason: DicomReason.OutOfResources, transient: true, message: 'out of file descriptors; retry later' };
  return { failureReason: DicomReason.ProcessingFailure, message: 'spool write failed' };
}

/**
 * Checks a received file, moves it into the spool and records it (with its audit row) in one transaction:
 * the one path every instance takes, whether pushed by STOW-RS or pulled by WADO-RS. Never throws for bad input:
 * the outcome carries the DICOM failure reason.
 */
export async function acceptInstanceFile(
  deps: AcceptDeps,
  file: ReceivedFile,
  opts: { actor: string; expectedStudyUid?: string; source: 'push' | 'pull' | 'local' },
): Promise<PartOutcome> {
  let info;
  try {
    info = await readInstanceInfo(file.path, { maxInflatedBytes: deps.maxInflatedBytes });
  } catch (e) {
    await fs.rm(file.path, { force: true });
    if (isOutOfFileDescriptors(e)) return writeFailure(e);
    const err = e instanceof LtError ? e : LtError.invalid('not a readable DICOM instance', DicomReason.CannotUnderstand);
    return { failureReason: err.dicomReason ?? DicomReason.CannotUnderstand, message: err.message };
  }
  const ids = { sopClassUid: info.sopClassUid, sopInstanceUid: info.sopInstanceUid, studyUid: info.studyUid, seriesUid: info.seriesUid };
  if (opts.expectedStudyUid !== undefined && info.studyUid !== opts.expectedStudyUid) {
    await fs.rm(file.path, { force: true });
    return { ...ids, failureReason: DicomReason.StudyUidMismatch, message: 'StudyInstanceUID does not match the study requested' };
  }
  try {
    const finalPath = deps.spool.instancePath(info.studyUid, info.sopInstanceUid, file.sha256);
    await deps.spool.commit(file.path, finalPath);
    const { outcome } = await deps.recorder.record({ ...info, spoolPath: finalPath, sizeBytes: file.size, sha256: file.sha256 }, opts.actor, opts.source);
    metrics.bytesReceived.inc(file.size);
    if (outcome === 'stored') log.debug('instance stored', { study: studyTag(info.studyUid) });
    return outcome === 'conflict'
      ? { ...ids, warningReason: DicomReason.DuplicateDifferentContent, message: 'conflict' }
      : { ...ids, message: outcome };
  } catch (e) {
    // Only the temp file is removed: a content-addressed final file may already be another request's record.
    await fs.rm(file.path, { force: true }).catch(() => undefined);
    if (isStorageFull(e) || isOutOfFileDescriptors(e)) return { ...ids, ...writeFailure(e) };
    // Not recorded, so not acknowledged: the sender keeps the instance and retries (503 with Retry-After).
    if (isDatabaseUnavailable(e)) {
      log.error('database unavailable: instance refused for retry');
      return { ...ids, failureReason: DicomReason.OutOfResources, transient: true, message: 'database unavailable; retry later' };
    }
    log.error('instance could not be recorded', { err: e });
    return { ...ids, failureReason: DicomReason.ProcessingFailure, message: 'instance could not be recorded' };
  }
}
