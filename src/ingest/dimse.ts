import net, { type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { audit } from '../audit/audit-log';
import {
  ACCEPTED_STORAGE_CLASSES,
  CEchoResponse,
  CStoreResponse,
  Dataset,
  DECODABLE_TRANSFER_SYNTAXES,
  part10Header,
  PresentationContextResult,
  RejectReason,
  RejectResult,
  RejectSource,
  Scp,
  Status,
  VERIFICATION_SOP_CLASS,
  type Association,
  type CEchoRequestType,
  type CEchoResponseType,
  type CStoreRequestType,
  type CStoreResponseType,
  type PresentationContext,
} from '../dicom/dimse';
import { DicomReason } from '../errors';
import { log } from '../logger';
import { metrics } from '../metrics';
import type { RateLimiter } from '../rate-limit';
import { acceptReceived, openReceivedPart, writeFailure, writeToPart, type ReceiveDeps, type ReceivedPart } from './accept';
import type { StudiesInFlight } from './in-flight';
import type { PartOutcome } from './stow-response';

/** What the DIMSE listener needs: the accept path's parts, who may call it, and the STOW listener's hooks. */
export interface DimseDeps extends ReceiveDeps {
  aeTitle: string;
  /** Calling AE titles and peer addresses admitted; empty: any. */
  allowedAes: string[];
  allowedHosts: string[];
  maxInstanceBytes: number;
  /** C-STOREs per second per calling AE@host (undefined: no limit): 0xA700 beyond, the data set dropped unrecorded. */
  rateLimiter?: RateLimiter;
  /** Told of each stored instance's study, and of the studies an association stored instances of once it has ended. */
  onStored?: (studyUid: string) => void;
  onAssociationEnd?: (studyUids: string[]) => void;
  /** Holds the studies this association delivers open until it ends (the quiet period waits for them). */
  inFlight?: StudiesInFlight;
}

/** A running DIMSE listener. */
export interface DimseListener {
  port: number;
  /** Stops listening, drops open associations and waits for the instances being accepted. */
  close(): Promise<void>;
}

/** Idle time after which an association is dropped (the socket's timeout; dcmjs-dimse's PDU timeout is the same). */
const IDLE_MS = 60_000;

/** "::ffff:127.0.0.1" is how an IPv4 peer appears on a dual-stack socket. */
const peerHost = (socket: Socket) => (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');

/** The C-STORE status for an accept outcome (PS3.4 GG.4): the failure, else the warning, else success. */
export function storeStatusOf(o: PartOutcome): number {
  return o.failureReason ?? o.warningReason ?? Status.Success;
}

/**
 * Streams a C-STORE data set into an incoming spool file behind a Part 10 header; pauses the socket while the disk
 * is behind, so memory stays bounded whatever the instance size. Never errors: a failure is kept in the part.
 */
class SpoolWritable extends Writable {
  readonly part: ReceivedPart = {};
  constructor(
    private readonly deps: DimseDeps,
    private readonly socket: Socket,
    private readonly header: Buffer,
  ) {
    super({ highWaterMark: 4 * 1024 * 1024 });
    this.on('drain', () => socket.resume());
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.settle(
      openReceivedPart(this.deps.spool).then(async (part) => {
        Object.assign(this.part, part);
        await writeToPart(this.part, this.header, this.limit());
      }),
      callback,
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.settle(writeToPart(this.part, chunk, this.limit()), callback);
  }

  private limit(): number {
    return this.deps.maxInstanceBytes + this.header.length;
  }

  /** Calls back whatever happens, so the association never stalls; an unexpected error becomes the part's failure. */
  private settle(work: Promise<void>, callback: () => void): void {
    void work
      .catch((e: unknown) => {
        this.part.file = undefined;
        this.part.failure ??= writeFailure(e);
      })
      .then(() => callback());
  }

  override write(chunk: unknown, ...rest: unknown[]): boolean {
    const ok = super.write(chunk, ...(rest as [BufferEncoding]));
    if (!ok) this.socket.pause();
    return ok;
  }
}

/** One association: admits or rejects the caller, answers C-ECHO, accepts C-STORE through the one accept path. */
class DimseAssociation extends Scp {
  private actor = 'unknown';
  private callingAe = '';
  private readonly receiving = new Map<CStoreRequestType, SpoolWritable>();
  private readonly studies = new Set<string>();
  private ended = false;

  constructor(
    private readonly sock: Socket,
    private readonly deps: DimseDeps,
    private readonly track: (p: Promise<unknown>) => void,
  ) {
    super(sock, { connectTimeout: IDLE_MS, associationTimeout: IDLE_MS, pduTimeout: IDLE_MS });
    this.on('networkError', (e: Error) => {
      log.warn('dimse connection error', { err: e.message });
      sock.destroy();
    });
    this.on('close', () => this.end());
  }

  override associationRequested(association: Association): void {
    this.callingAe = association.getCallingAeTitle().trim();
    const host = peerHost(this.sock);
    this.actor = `${this.callingAe}@${host}`;
    const refusal =
      association.getCalledAeTitle().trim() !== this.deps.aeTitle
        ? { reason: RejectReason.CalledAeNotRecognized, why: 'called AE title not recognized' }
        : this.deps.allowedAes.length > 0 && !this.deps.allowedAes.includes(this.callingAe)
          ? { reason: RejectReason.CallingAeNotRecognized, why: 'calling AE title not allowed' }
          : this.deps.allowedHosts.length > 0 && !this.deps.allowedHosts.includes(host)
            ? // PS3.8 has no reason for an address; "no reason given" rather than blaming the AE title.
              { reason: RejectReason.NoReasonGiven, why: 'host not allowed' }
            : undefined;
    if (refusal) {
      metrics.dimseAssociations.inc({ outcome: 'rejected' });
      log.warn('dimse association rejected', { calling: this.callingAe, host, why: refusal.why });
      // Audited before the answer, so a refusal the caller saw is always on record.
      const audited = audit(this.deps.dataSource, { actor: this.actor, action: 'dimse.rejected', outcome: 'failure', detail: { reason: refusal.why } })
        .catch((e: unknown) => log.error('audit write failed', { err: e }))
        .then(() => this.sendAssociationReject(RejectResult.Permanent, RejectSource.ServiceUser, refusal.reason));
      this.track(audited);
      return;
    }
    for (const c of association.getPresentationContexts()) negotiate(association.getPresentationContext(c.id));
    metrics.dimseAssociations.inc({ outcome: 'accepted' });
    this.sendAssociationAccept();
  }

  override associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
    this.end();
  }

  override cEchoRequest(request: CEchoRequestType, callback: (response: CEchoResponseType) => void): void {
    const response = CEchoResponse.fromRequest(request);
    response.setStatus(Status.Success);
    callback(response);
  }

  override createStoreWritableStream(context: PresentationContext, request: CStoreRequestType): Writable {
    const header = part10Header({
      sopClassUid: request.getAffectedSopClassUid(),
      sopInstanceUid: request.getAffectedSopInstanceUid(),
      // Set: dcmjs-dimse only streams data sets on accepted contexts.
      transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? '',
      sourceAeTitle: this.callingAe || 'UNKNOWN',
    });
    const writable = new SpoolWritable(this.deps, this.sock, header);
    this.receiving.set(request, writable);
    return writable;
  }

  override createDatasetFromStoreWritableStream(writable: Writable, context: PresentationContext, callback: (dataset: InstanceType<typeof Dataset>) => void): void {
    // The bytes are in the spool, not in memory: the request gets an empty data set.
    void finished(writable).then(() => callback(new Dataset({}, context.getAcceptedTransferSyntaxUid())));
  }

  override cStoreRequest(request: CStoreRequestType, callback: (response: CStoreResponseType) => void): void {
    const writable = this.receiving.get(request);
    this.receiving.delete(request);
    const part: ReceivedPart = writable?.part ?? { failure: { failureReason: DicomReason.ProcessingFailure, message: 'no data set received' } };
    if ((this.deps.rateLimiter?.take(this.actor) ?? 0) > 0) {
      // Refused before any check or record, so a flood costs neither a database write nor an audit row per instance.
      const response = CStoreResponse.fromRequest(request);
      response.setStatus(DicomReason.OutOfResources);
      response.setErrorComment('rate limit: retry later');
      metrics.failures.inc({ reason: '0xA700' });
      this.track((part.file?.discard() ?? Promise.resolve()).then(() => void (this.sock.destroyed || callback(response))));
      return;
    }
    const done = acceptReceived(this.deps, part, { actor: this.actor, expectedSopClassUid: request.getAffectedSopClassUid() }).then((outcome) => {
      const response = CStoreResponse.fromRequest(request);
      response.setStatus(storeStatusOf(outcome));
      if (outcome.failureReason !== undefined && outcome.message) response.setErrorComment(outcome.message.slice(0, 64));
      if (outcome.failureReason === undefined && outcome.studyUid) {
        if (!this.studies.has(outcome.studyUid) && !this.ended) this.deps.inFlight?.enter(outcome.studyUid);
        this.studies.add(outcome.studyUid);
        this.deps.onStored?.(outcome.studyUid);
      }
      // Answered only now: the instance is fsynced, moved into place and recorded with its audit row.
      if (!this.sock.destroyed) callback(response);
    });
    this.track(done);
  }

  /** The association is over (released, aborted or dropped): data sets cut off mid-way are removed. */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const w of this.receiving.values()) this.track(w.part.file?.discard() ?? Promise.resolve());
    this.receiving.clear();
    this.deps.inFlight?.leave(this.studies);
    if (this.studies.size > 0) this.deps.onAssociationEnd?.([...this.studies]);
  }

  override abort(): void {
    this.sock.destroy();
  }
}

/** Accepts the CT storage classes in the transfer syntaxes we decode (the caller's order decides among them), and Verification. */
function negotiate(context: PresentationContext): void {
  const abstract = context.getAbstractSyntaxUid();
  if (abstract !== VERIFICATION_SOP_CLASS && !ACCEPTED_STORAGE_CLASSES.has(abstract)) {
    context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
    return;
  }
  const syntax = context.getTransferSyntaxUids().find((ts) => DECODABLE_TRANSFER_SYNTAXES.includes(ts));
  if (syntax) context.setResult(PresentationContextResult.Accept, syntax);
  else context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
}

/**
 * The DIMSE listener (PS3.7, PS3.8): a C-STORE SCP with C-ECHO beside the STOW-RS one, feeding the same accept path.
 * Each instance is answered with its PS3.4 status only once it is durable and recorded.
 */
export async function startDimseListener(deps: DimseDeps, listen: { host: string; port: number }): Promise<DimseListener> {
  const sockets = new Set<Socket>();
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    new DimseAssociation(socket, deps, track);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info('dimse listening', { address: `${listen.host}:${port}`, aeTitle: deps.aeTitle });
  return {
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
