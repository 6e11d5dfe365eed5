import type { DimsePeer } from '../config';
import { readPart10 } from '../dicom/dcmjs';
import { Client, CStoreRequest, Dataset, isWarningStatus, Status } from '../dicom/dimse';
import { isTransientFailure, type DeliveryTarget, type InstanceOutcome, type OutgoingInstance, type StoreResult } from './target';

/** Options of {@link DimseTarget}. */
export interface DimseTargetOptions {
  /** Most time one association may take, connecting included (default 120 s). */
  timeoutMs?: number;
}

const hex = (n: number) => `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * What a C-STORE response status means for an instance (PS3.4 GG.4), the way a STOW-RS FailureReason does: success
 * and warnings (0xB000-0xBFFF) stored; out of resources (0xA7xx) and a processing failure (0x0110) retried; anything
 * else (0xA900 data set does not match SOP class, 0xC000 cannot understand, 0x0122 SOP class not supported) failed for good.
 */
export function classifyStoreStatus(sopInstanceUid: string, status: number): InstanceOutcome {
  if (status === Status.Success) return { sopInstanceUid, result: 'stored' };
  if (isWarningStatus(status)) return { sopInstanceUid, result: 'stored', reason: `warning ${hex(status)}` };
  return { sopInstanceUid, result: isTransientFailure(status) ? 'retry' : 'failed', reason: `C-STORE status ${hex(status)}` };
}

/**
 * C-STORE SCU to a configured AE (LT_RESULTS_DIMSE): one association per delivery batch, each instance answered on
 * its own. An association that is refused or cut short leaves the unanswered instances to be retried; one whose
 * presentation context the destination refused (SOP class not supported there) fails for good.
 */
export class DimseTarget implements DeliveryTarget {
  readonly description: string;

  constructor(
    private readonly peer: DimsePeer,
    private readonly opts: DimseTargetOptions = {},
  ) {
    this.description = `c-store ${peer.aeTitle}@${peer.host}:${peer.port} (from ${peer.callingAeTitle})`;
  }

  async store(_studyUid: string, instances: OutgoingInstance[]): Promise<StoreResult> {
    const client = new Client();
    const answered = new Map<string, InstanceOutcome>();
    for (const inst of instances) {
      const { meta, dataset } = readPart10(inst.bytes);
      const request = new CStoreRequest(new Dataset(dataset, meta.TransferSyntaxUID as string));
      request.on('response', (response: { getStatus(): number }) => answered.set(inst.sopInstanceUid, classifyStoreStatus(inst.sopInstanceUid, response.getStatus())));
      client.addRequest(request);
    }
    let accepted = false;
    let released = false;
    let error: string | undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        error = 'association timed out';
        try {
          client.abort();
        } catch {
          resolve(); // never connected
        }
      }, this.opts.timeoutMs ?? 120_000);
      client.on('associationAccepted', () => (accepted = true));
      client.on('associationReleased', () => (released = true));
      client.on('associationRejected', (r: { result: number; source: number; reason: number }) => {
        error = `association rejected (result ${r.result}, source ${r.source}, reason ${r.reason})`;
      });
      client.on('networkError', (e: Error) => (error ??= e.message || 'network error'));
      client.on('closed', () => {
        clearTimeout(timer);
        resolve();
      });
      client.send(this.peer.host, this.peer.port, this.peer.callingAeTitle, this.peer.aeTitle, { connectTimeout: 30_000, associationTimeout: 30_000, pduTimeout: 60_000 });
    });
    const cleanEnd = accepted && released && !error;
    const outcomes = instances.map(
      (i): InstanceOutcome =>
        answered.get(i.sopInstanceUid) ??
        (cleanEnd
          ? { sopInstanceUid: i.sopInstanceUid, result: 'failed', reason: 'the destination accepted no presentation context for its SOP class' }
          : { sopInstanceUid: i.sopInstanceUid, result: 'retry', reason: error ?? 'no answer' }),
    );
    return { outcomes, error };
  }
}
