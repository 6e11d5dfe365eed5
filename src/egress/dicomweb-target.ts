import type https from 'node:https';
import { createDicomWebClient, PacsDicomWebClient, type DicomWebError, type XhrRequest } from '../dicom/dicomweb';
import { createPacsAuth, pacsHttpsAgent, type PacsAuth, type PacsConfig } from '../dicom/pacs-auth';
import { Tags, tagKey } from '../dicom/tags';
import { DEVICE } from '../results/device';
import { classifyStowAnswer, type DeliveryTarget, type OutgoingInstance, type StoreResult } from './target';

/** Options of {@link DicomWebTarget}. */
export interface DicomWebTargetOptions {
  /** Per-request time limit (default 120 s). */
  timeoutMs?: number;
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const s = Number(value);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/**
 * STOW-RS to the PACS (PS3.18 10.5) with dicomweb-client: one request per study batch to /studies/{study},
 * auth header per request (OAuth2 tokens refreshed as they expire, and after a 401), TLS trusting LT_PACS_CA.
 */
export class DicomWebTarget implements DeliveryTarget {
  readonly description: string;
  private readonly agent?: https.Agent;
  private readonly auth: PacsAuth;

  constructor(
    private readonly pacs: PacsConfig,
    private readonly opts: DicomWebTargetOptions = {},
  ) {
    this.agent = pacsHttpsAgent(pacs);
    this.auth = createPacsAuth(pacs, this.agent);
    const u = new URL(pacs.url);
    this.description = `stow-rs ${u.protocol}//${u.host}${u.pathname} (auth ${pacs.auth})`;
  }

  async store(studyUid: string, instances: OutgoingInstance[]): Promise<StoreResult> {
    let authorization: string | undefined;
    try {
      authorization = await this.auth.authorization();
    } catch (e) {
      return { httpStatus: 0, error: (e as Error).message, outcomes: instances.map((i) => ({ sopInstanceUid: i.sopInstanceUid, result: 'retry', reason: 'no access token' })) };
    }
    let xhr: XhrRequest | undefined;
    const client = createDicomWebClient({
      url: this.pacs.url,
      headers: { Accept: 'application/dicom+json', ...(authorization ? { Authorization: authorization } : {}) },
      requestHooks: [
        // dicomweb-client ignores hooks that do not declare both parameters.
        (request, _metadata) => {
          xhr = request;
          if (this.agent) request.nodejsSet({ httpsAgent: this.agent });
          return request;
        },
      ],
    });
    const timeoutMs = this.opts.timeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        xhr?.abort();
        reject(Object.assign(new Error('request timed out'), { status: 0 }));
      }, timeoutMs);
    });
    const datasets = instances.map((i) => i.bytes.buffer.slice(i.bytes.byteOffset, i.bytes.byteOffset + i.bytes.byteLength) as ArrayBuffer);
    try {
      const body = await Promise.race([client.storeInstances({ datasets, studyInstanceUID: studyUid }), timeout]);
      // dicomweb-client resolves 200 and 202 alike; xhr tells which.
      const status = xhr?.status || 200;
      return { httpStatus: status, outcomes: classifyStowAnswer(status, body, instances) };
    } catch (e) {
      const err = e as DicomWebError;
      const status = typeof err.status === 'number' ? err.status : 0;
      if (status === 401) this.auth.invalidate();
      const retryAfter = status ? retryAfterMs(err.request?.getResponseHeader('Retry-After')) : undefined;
      return {
        httpStatus: status,
        retryAfterMs: retryAfter,
        error: status ? `HTTP ${status}` : err.message || 'no answer',
        outcomes: classifyStowAnswer(status, err.response, instances),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /** QIDO-RS for the study's series: held when one of them is not ours (Manufacturer of our results). */
  async holdsStudy(studyUid: string): Promise<boolean> {
    const authorization = await this.auth.authorization();
    const client = new PacsDicomWebClient({
      url: this.pacs.url,
      headers: authorization ? { Authorization: authorization } : {},
      httpsAgent: this.agent,
      timeoutMs: Math.min(this.opts.timeoutMs ?? 120_000, 30_000),
    });
    let series;
    try {
      series = await client.searchForSeries({ studyInstanceUID: studyUid, queryParams: { includefield: tagKey(Tags.Manufacturer) } });
    } catch (e) {
      if ((e as DicomWebError).status === 404) return false;
      throw e;
    }
    return (series ?? []).some((s) => s[tagKey(Tags.Manufacturer)]?.Value?.[0] !== DEVICE.manufacturer);
  }
}
