import type https from 'node:https';

/**
 * The one place dicomweb-client is imported. It is built on XMLHttpRequest, which Node lacks: xhr2 provides it
 * (set once, globally, only when absent). The surface we use is typed here.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const XHR = require('xhr2') as XhrConstructor;
const g = globalThis as unknown as { XMLHttpRequest?: unknown };
if (!g.XMLHttpRequest) g.XMLHttpRequest = XHR;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dwc = require('dicomweb-client') as { api: { DICOMwebClient: new (options: DicomWebClientOptions) => DicomWebClient } };

/** The xhr2 request object, as request hooks see it. */
export interface XhrRequest {
  status: number;
  timeout: number;
  responseText?: string;
  getResponseHeader(name: string): string | null;
  abort(): void;
  nodejsSet(options: { httpAgent?: unknown; httpsAgent?: unknown }): void;
}
type XhrConstructor = new () => XhrRequest;

/** A request hook (dicomweb-client): may adjust the request before it is sent; must return it. */
export type RequestHook = (request: XhrRequest, metadata: { method: string; url: string; headers: Record<string, string> }) => XhrRequest;

/** Options of dicomweb-client's DICOMwebClient we use. */
export interface DicomWebClientOptions {
  url: string;
  headers?: Record<string, string>;
  requestHooks?: RequestHook[];
  verbose?: boolean;
}

/** The error dicomweb-client rejects with for a non-2xx answer (status 0: no answer at all). */
export interface DicomWebError extends Error {
  status?: number;
  response?: unknown;
  request?: XhrRequest;
}

/** The client methods we use. */
export interface DicomWebClient {
  storeInstances(options: { datasets: ArrayBuffer[]; studyInstanceUID?: string }): Promise<unknown>;
  searchForInstances(options: { studyInstanceUID?: string; queryParams?: Record<string, string> }): Promise<Record<string, { vr: string; Value?: unknown[] }>[]>;
  searchForStudies(options: { queryParams?: Record<string, string> }): Promise<Record<string, { vr: string; Value?: unknown[] }>[]>;
  searchForSeries(options: { studyInstanceUID?: string; queryParams?: Record<string, string> }): Promise<Record<string, { vr: string; Value?: unknown[] }>[]>;
  retrieveInstance(options: { studyInstanceUID: string; seriesInstanceUID: string; sopInstanceUID: string }): Promise<ArrayBuffer>;
}

/** A DICOMweb client for one base URL (…/dicom-web). */
export function createDicomWebClient(options: DicomWebClientOptions): DicomWebClient {
  return new dwc.api.DICOMwebClient({ verbose: false, ...options });
}

/** Options of {@link PacsDicomWebClient}. */
export interface PacsClientOptions {
  /** DICOMweb base URL (…/dicom-web). */
  url: string;
  headers?: Record<string, string>;
  /** The agent for https URLs (one trusting LT_PACS_CA: pacsHttpsAgent), or undefined for the system CAs. */
  httpsAgent?: https.Agent;
  /** Time limit of each request, after which it is aborted and rejected with status 0. */
  timeoutMs: number;
}

/**
 * A DICOMweb client to the PACS: every request goes through the configured https agent and is aborted after the
 * time limit, so no caller can forget the custom CA or wait for ever on a PACS that stopped answering.
 */
export class PacsDicomWebClient {
  private readonly client: DicomWebClient;
  private last?: XhrRequest;

  constructor(private readonly options: PacsClientOptions) {
    this.client = createDicomWebClient({
      url: options.url,
      headers: options.headers,
      requestHooks: [
        // dicomweb-client ignores hooks that do not declare both parameters.
        (request, _metadata) => {
          this.last = request;
          if (options.httpsAgent) request.nodejsSet({ httpsAgent: options.httpsAgent });
          return request;
        },
      ],
    });
  }

  /** QIDO-RS: the instances of a study (PS3.18 10.6). */
  searchForInstances(options: Parameters<DicomWebClient['searchForInstances']>[0]): ReturnType<DicomWebClient['searchForInstances']> {
    return this.timed(() => this.client.searchForInstances(options));
  }

  /** QIDO-RS: studies matching the query (PS3.18 10.6). */
  searchForStudies(options: Parameters<DicomWebClient['searchForStudies']>[0]): ReturnType<DicomWebClient['searchForStudies']> {
    return this.timed(() => this.client.searchForStudies(options));
  }

  /** QIDO-RS: the series of a study matching the query. */
  searchForSeries(options: Parameters<DicomWebClient['searchForSeries']>[0]): ReturnType<DicomWebClient['searchForSeries']> {
    return this.timed(() => this.client.searchForSeries(options));
  }

  /** WADO-RS: one instance's Part 10 bytes (PS3.18 10.4). */
  retrieveInstance(options: Parameters<DicomWebClient['retrieveInstance']>[0]): Promise<ArrayBuffer> {
    return this.timed(() => this.client.retrieveInstance(options));
  }

  /** STOW-RS (PS3.18 10.5); `lastStatus` then tells 200 from 202. */
  storeInstances(options: Parameters<DicomWebClient['storeInstances']>[0]): Promise<unknown> {
    return this.timed(() => this.client.storeInstances(options));
  }

  /** The HTTP status of the latest request (0 before any answer). */
  get lastStatus(): number {
    return this.last?.status ?? 0;
  }

  private async timed<T>(run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.last?.abort();
        reject(Object.assign(new Error(`request timed out after ${this.options.timeoutMs} ms`), { status: 0 }));
      }, this.options.timeoutMs);
    });
    try {
      return await Promise.race([run(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
