import { promises as fs } from 'node:fs';
import type { DataSource } from 'typeorm';
import { audit } from '../audit/audit-log';
import { DicomReason, isDatabaseUnavailable, isOutOfFileDescriptors, isStorageFull, LtError } from '../errors';
import { log, studyTag } from '../logger';
import { metrics } from '../metrics';
import type { InstanceRecorder } from './instance-store';
import { readInstanceInfo, type KnownUids } from './part10';
import type { IncomingFile, Spool } from './spool';
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
  opts: { actor: string; expectedStudyUid?: string; expectedSopClassUid?: string; source: 'push' | 'pull' | 'local' },
): Promise<PartOutcome> {
  let info;
  try {
    info = await readInstanceInfo(file.path, { maxInflatedBytes: deps.maxInflatedBytes });
  } catch (e) {
    await fs.rm(file.path, { force: true });
    if (isOutOfFileDescriptors(e)) return writeFailure(e);
    const err = e instanceof LtError ? e : LtError.invalid('not a readable DICOM instance', DicomReason.CannotUnderstand);
    const known = (err.details ?? {}) as KnownUids;
    return { sopInstanceUid: known.sopInstanceUid, sopClassUid: known.sopClassUid, failureReason: err.dicomReason ?? DicomReason.CannotUnderstand, message: err.message };
  }
  const ids = { sopClassUid: info.sopClassUid, sopInstanceUid: info.sopInstanceUid, studyUid: info.studyUid, seriesUid: info.seriesUid };
  if (opts.expectedStudyUid !== undefined && info.studyUid !== opts.expectedStudyUid) {
    await fs.rm(file.path, { force: true });
    return { ...ids, failureReason: DicomReason.StudyUidMismatch, message: 'StudyInstanceUID does not match the study requested' };
  }
  if (opts.expectedSopClassUid !== undefined && info.sopClassUid !== opts.expectedSopClassUid) {
    await fs.rm(file.path, { force: true });
    return { ...ids, failureReason: DicomReason.DataSetDoesNotMatchSopClass, message: 'SOPClassUID differs from the SOP class it was sent as' };
  }
  try {
    const finalPath = deps.spool.instancePath(info.studyUid, info.sopInstanceUid, file.sha256);
    await deps.spool.commit(file.path, finalPath);
    const { outcome } = await deps.recorder.record({ ...info, spoolPath: finalPath, sizeBytes: file.size, sha256: file.sha256 }, opts.actor, opts.source);
    metrics.bytesReceived.inc(file.size);
    if (outcome === 'stored') log.debug('instance stored', { study: studyTag(info.studyUid) });
    if (outcome === 'held-by-another-study' || outcome === 'study-full') {
      await fs.rm(finalPath, { force: true }); // recorded nowhere: this request's own copy
      return outcome === 'study-full'
        ? { ...ids, failureReason: DicomReason.OutOfResources, message: `the study already holds the most instances one study may (${deps.recorder.maxInstancesPerStudy}, LT_MAX_INSTANCES_PER_STUDY)` }
        : { ...ids, failureReason: DicomReason.DuplicateSopInstance, message: 'this SOP Instance UID already belongs to an instance of another study' };
    }
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

/** What a push listener needs to accept what it received. */
export interface ReceiveDeps extends AcceptDeps {
  dataSource: DataSource;
}

/** An instance as a push listener received it: its bytes in an incoming spool file, or why it could not be received. */
export interface ReceivedPart {
  file?: IncomingFile;
  failure?: PartOutcome;
}

/** A fresh incoming spool file for an instance about to be received (or why none could be had: disk full). */
export async function openReceivedPart(spool: Spool): Promise<ReceivedPart> {
  try {
    return { file: await spool.incoming() };
  } catch (e) {
    return { failure: writeFailure(e) };
  }
}

/**
 * Appends received bytes to a part. Past maxInstanceBytes, or when the write fails, the file is dropped and the part
 * carries the failure (0xA700, or what the write error means); later bytes are then ignored.
 */
export async function writeToPart(part: ReceivedPart, data: Buffer, maxInstanceBytes: number): Promise<void> {
  if (!part.file) return;
  if (part.file.size + data.length > maxInstanceBytes) {
    await part.file.discard();
    part.file = undefined;
    part.failure = { failureReason: DicomReason.OutOfResources, message: `instance exceeds the limit of ${maxInstanceBytes} bytes` };
    return;
  }
  try {
    await part.file.write(data);
  } catch (e) {
    await part.file.discard();
    part.file = undefined;
    part.failure = writeFailure(e);
  }
}

const hex = (n: number) => `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * The one accept path of the push listeners (a STOW-RS part, a DIMSE C-STORE): makes the received file durable
 * (fsync), checks, spools and records it ({@link acceptInstanceFile}), counts the outcome and audits a refusal.
 * The listener answers the sender only once this has resolved, so "stored" always means durable and recorded.
 */
export async function acceptReceived(
  deps: ReceiveDeps,
  part: ReceivedPart,
  opts: { actor: string; expectedStudyUid?: string; expectedSopClassUid?: string },
): Promise<PartOutcome> {
  const outcome = await durableAndAccepted(deps, part, opts);
  const label = outcome.failureReason !== undefined ? 'failed' : outcome.warningReason !== undefined ? 'conflict' : (outcome.message ?? 'stored');
  metrics.instancesReceived.inc({ outcome: label });
  if (outcome.failureReason !== undefined) {
    metrics.failures.inc({ reason: hex(outcome.failureReason) });
    await audit(deps.dataSource, {
      actor: opts.actor,
      action: 'instance.rejected',
      outcome: 'failure',
      studyUid: outcome.studyUid,
      objectUids: outcome.sopInstanceUid ? [outcome.sopInstanceUid] : [],
      detail: { reason: hex(outcome.failureReason), message: outcome.message },
    }).catch((e: unknown) => log.error('audit write failed', { err: e }));
  }
  return outcome;
}

async function durableAndAccepted(deps: ReceiveDeps, part: ReceivedPart, opts: { actor: string; expectedStudyUid?: string; expectedSopClassUid?: string }): Promise<PartOutcome> {
  if (!part.file) return part.failure ?? { failureReason: DicomReason.ProcessingFailure };
  const file = part.file;
  let sha256: string;
  try {
    sha256 = await file.finish();
  } catch (e) {
    await file.discard();
    return writeFailure(e);
  }
  return acceptInstanceFile(deps, { path: file.path, size: file.size, sha256 }, { ...opts, source: 'push' });
}
