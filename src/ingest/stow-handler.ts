import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { audit } from '../audit/audit-log';
import { isValidUid } from '../dicom/uid';
import { DicomReason, LtError } from '../errors';
import { log } from '../logger';
import { metrics } from '../metrics';
import { acceptReceived, openReceivedPart, writeToPart, type ReceivedPart } from './accept';
import { MultipartParser, parseStowContentType } from './multipart';
import type { InstanceRecorder } from './instance-store';
import type { Spool } from './spool';
import type { StudiesInFlight } from './in-flight';
import { storeResponse, storeStatus, type PartOutcome } from './stow-response';

/** What the STOW-RS handler needs. */
export interface StowDeps {
  dataSource: DataSource;
  spool: Spool;
  recorder: InstanceRecorder;
  /**
   * stowIdleSeconds: a body that sends nothing for this long is ended (408, or the Store response of what it stored).
   * maxPartsPerRequest: parts beyond it are not read; the response says to send them in another request.
   */
  limits: {
    maxBodyBytes: number;
    maxInstanceBytes: number;
    maxInflatedBytes?: number;
    maxConcurrentStow: number;
    stowIdleSeconds: number;
    maxPartsPerRequest: number;
  };
  /** Base URL for RetrieveURL values (LT_PUBLIC_URL, else derived from the request). */
  publicUrl?: string;
  /**
   * While a request is still streaming, the studies it has delivered parts of are marked as receiving this often,
   * so a study arriving slowly in one long request never looks quiet (complete) half-way. Default 1 s.
   */
  receivingHeartbeatMs?: number;
  /** Told of each stored instance's study, and of the studies a request stored instances of once it has ended. */
  onStored?: (studyUid: string) => void;
  onRequestEnd?: (studyUids: string[]) => void;
  /** Holds the studies this request delivers open until it ends (the quiet period waits for them). */
  inFlight?: StudiesInFlight;
}

/** Who made the request, for the audit trail: the authenticated user (if any) and the remote address. */
export function actorOf(req: Request, res: Response): string {
  const user = res.locals.user as string | undefined;
  const addr = req.socket.remoteAddress ?? 'unknown';
  return user ? `${user}@${addr}` : `anonymous@${addr}`;
}

/** Parts finishing at once per request: enough to hide fsync and commit latency, few enough to bound memory. */
const MAX_FINISHING = 16;

/**
 * STOW-RS (PS3.18 10.5): streams each part of a multipart/related body to the spool, fsyncs it, checks and parses
 * it, and records it in Postgres before it is reported stored. Memory stays flat whatever the body size.
 */
export function createStowHandler(deps: StowDeps) {
  let active = 0;
  return async function stow(req: Request, res: Response): Promise<void> {
    const endTimer = metrics.stowSeconds.startTimer();
    const actor = actorOf(req, res);
    const baseUrl = deps.publicUrl ?? baseUrlOf(req);
    const urlStudy = req.params.study as string | undefined;
    let boundary: string;
    try {
      if (urlStudy !== undefined && !isValidUid(urlStudy)) throw LtError.invalid('the Study Instance UID in the URL is not a valid UID');
      ({ boundary } = parseStowContentType(req.headers['content-type']));
      const coding = req.headers['content-encoding']?.trim().toLowerCase();
      if (coding && coding !== 'identity') throw LtError.unsupportedMedia(`Content-Encoding ${coding} is not supported; send the body uncompressed`);
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (declared > deps.limits.maxBodyBytes) throw LtError.tooLarge(`request body of ${declared} bytes exceeds the limit of ${deps.limits.maxBodyBytes}`);
      if (active >= deps.limits.maxConcurrentStow) {
        res.setHeader('Retry-After', '5');
        throw LtError.busy(`too many concurrent STOW-RS requests (limit ${deps.limits.maxConcurrentStow}); retry later`);
      }
    } catch (e) {
      await rejectRequest(deps.dataSource, actor, e, urlStudy);
      endTimer();
      throw e;
    }
    active++;
    // Parts finish (fsync, parse, rename, record) concurrently with receiving the next ones, a few at a time;
    // the response waits for all of them, so "stored" still means durable and recorded.
    const finishing: Promise<PartOutcome>[] = [];
    const inFlight = new Set<Promise<PartOutcome>>();
    const extra: PartOutcome[] = [];
    let part: ReceivedPart | undefined;
    let total = 0;
    let tooLarge = false;
    let tooManyParts = false;
    let partsSeen = 0; // counted here: the parser reads a whole chunk's headers ahead of the events handled
    let outcomes: PartOutcome[];
    const studies = new Set<string>();
    const heartbeat = setInterval(() => {
      if (studies.size === 0) return;
      deps.dataSource
        .query(`UPDATE study SET last_received_at = now() WHERE study_uid = ANY($1) AND state = 'receiving'`, [[...studies]])
        .catch((e: unknown) => log.warn('receiving heartbeat failed', { err: e }));
    }, deps.receivingHeartbeatMs ?? 1000);
    try {
      try {
        const parser = new MultipartParser(boundary);
        read: for await (const chunk of bodyChunks(req, deps.limits.stowIdleSeconds * 1000)) {
          total += chunk.length;
          if (total > deps.limits.maxBodyBytes) {
            tooLarge = true;
            break;
          }
          for (const ev of parser.push(chunk)) {
            if (ev.type === 'partStart') {
              if (++partsSeen > deps.limits.maxPartsPerRequest) {
                tooManyParts = true;
                break read;
              }
              part = await openPart(deps.spool, ev.headers);
            }
            else if (ev.type === 'data' && part) await writeToPart(part, ev.data, deps.limits.maxInstanceBytes);
            else if (ev.type === 'partEnd' && part) {
              while (inFlight.size >= MAX_FINISHING) await Promise.race(inFlight);
              const done = finishPart(deps, part, urlStudy, actor);
              void done.then((o) => {
                if (o.failureReason !== undefined || !o.studyUid) return;
                if (!studies.has(o.studyUid)) deps.inFlight?.enter(o.studyUid);
                studies.add(o.studyUid);
                deps.onStored?.(o.studyUid);
              });
              finishing.push(done);
              inFlight.add(done);
              void done.finally(() => inFlight.delete(done));
              part = undefined;
            } else if (ev.type === 'end') break read;
          }
        }
        if (tooManyParts) {
          // Each part costs a file, an fsync and a record: a body of thousands of tiny parts must not hold a slot for minutes.
          res.setHeader('Connection', 'close');
          extra.push({ failureReason: DicomReason.OutOfResources, message: `more than ${deps.limits.maxPartsPerRequest} parts in one request; send the rest in another` });
        } else if (tooLarge) {
          res.setHeader('Connection', 'close');
          extra.push({ failureReason: DicomReason.OutOfResources, message: 'request body exceeds the configured limit' });
          await rejectRequest(deps.dataSource, actor, LtError.tooLarge('request body exceeds the limit'), urlStudy);
        } else if (!parser.done) {
          if (parser.parts === 0 || finishing.length === 0) parser.finish(); // throws 400: nothing understood
          extra.push({ failureReason: DicomReason.CannotUnderstand, message: 'body ended before the closing boundary' });
        }
      } catch (e) {
        // A stalled sender's socket is not read any further: answer and close it, the slot is freed below.
        if (e instanceof LtError && e.httpStatus === 408) res.setHeader('Connection', 'close');
        if (finishing.length === 0) {
          await rejectRequest(deps.dataSource, actor, e, urlStudy);
          throw e;
        }
        extra.push({ failureReason: e instanceof LtError ? (e.dicomReason ?? DicomReason.CannotUnderstand) : DicomReason.ProcessingFailure, message: (e as Error).message });
      }
      outcomes = [...(await Promise.all(finishing)), ...extra];
    } finally {
      clearInterval(heartbeat);
      deps.inFlight?.leave(studies);
      active--;
      if (part?.file) await part.file.discard();
      endTimer();
    }
    const status = tooLarge ? 413 : stowStatus(outcomes);
    if (status === 503) res.setHeader('Retry-After', '30');
    metrics.stowRequests.inc({ status: String(status) });
    const stored = outcomes.filter((o) => o.failureReason === undefined).length;
    log.info('stow request', { status, parts: outcomes.length, stored, failed: outcomes.length - stored, bytes: total });
    res.status(status).type('application/dicom+json').send(JSON.stringify(storeResponse(outcomes, baseUrl)));
    if (studies.size > 0) deps.onRequestEnd?.([...studies]);
  };
}

/**
 * The chunks of a request body, failing with 408 (LtError.requestTimeout) when none arrives for idleMs: a sender that stops
 * half-way must not hold a STOW slot (and its study "receiving") for ever. The socket is left open so the answer
 * can still be sent.
 */
async function* bodyChunks(req: Request, idleMs: number): AsyncGenerator<Buffer> {
  const body = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let stalled = false;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<'idle'>((resolve) => (timer = setTimeout(() => resolve('idle'), idleMs)));
      const next = body.next();
      const r = await Promise.race([next, idle]).finally(() => clearTimeout(timer));
      if (r === 'idle') {
        stalled = true;
        next.catch(() => undefined); // settles when the socket is closed after the answer
        throw LtError.requestTimeout(`the request body sent nothing for ${idleMs / 1000} s`);
      }
      if (r.done) return;
      yield r.value;
    }
  } finally {
    // Leaving early otherwise (end boundary, size limit) ends the body as a plain for-await would.
    if (!stalled) await body.return?.();
  }
}

/**
 * Where this listener is reached, for RetrieveURLs when LT_PUBLIC_URL is unset: the connection's own local address,
 * never the Host header (a caller could point our RetrieveURLs anywhere with it). Behind a proxy, set LT_PUBLIC_URL.
 */
function baseUrlOf(req: Request): string {
  const local = (req.socket.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  return `${req.protocol}://${local.includes(':') ? `[${local}]` : local}:${req.socket.localPort}`;
}

/** None stored and every failure transient (disk full, database down): ask the sender to retry rather than give up. */
function stowStatus(outcomes: PartOutcome[]): number {
  if (outcomes.length > 0 && outcomes.every((o) => o.transient)) return 503;
  return storeStatus(outcomes);
}

async function openPart(spool: Spool, headers: Record<string, string>): Promise<ReceivedPart> {
  const type = headers['content-type']?.split(';')[0].trim().toLowerCase();
  if (type && type !== 'application/dicom')
    return { failure: { failureReason: DicomReason.CannotUnderstand, message: `part Content-Type ${type} is not application/dicom` } };
  return openReceivedPart(spool);
}

function finishPart(deps: StowDeps, part: ReceivedPart, urlStudy: string | undefined, actor: string): Promise<PartOutcome> {
  return acceptReceived({ ...deps, maxInflatedBytes: deps.limits.maxInflatedBytes }, part, { actor, expectedStudyUid: urlStudy });
}

async function rejectRequest(dataSource: DataSource, actor: string, e: unknown, studyUid: string | undefined): Promise<void> {
  const err = e instanceof LtError ? e : LtError.internal('internal error');
  metrics.stowRequests.inc({ status: String(err.httpStatus) });
  await audit(dataSource, {
    actor,
    action: 'stow.rejected',
    outcome: 'failure',
    studyUid: studyUid && isValidUid(studyUid) ? studyUid : undefined,
    detail: { status: err.httpStatus, message: err.message },
  }).catch((ae: unknown) => log.error('audit write failed', { err: ae }));
}
