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
}

/** A DICOMweb client for one base URL (…/dicom-web). */
export function createDicomWebClient(options: DicomWebClientOptions): DicomWebClient {
  return new dwc.api.DICOMwebClient({ verbose: false, ...options });
}
