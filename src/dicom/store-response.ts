/**
 * The Store Instances Response Module (PS3.18 10.5.3, Table 10.5.3-2) in DICOM JSON (PS3.18 F.2), both ways: ingest
 * encodes the answer to a STOW-RS request, egress decodes the PACS's answer to ours.
 */
import { Tags, tagKey } from './tags';

/** An instance stored (ReferencedSOPSequence item). */
export interface ReferencedInstance {
  sopClassUid?: string;
  sopInstanceUid: string;
  /** RetrieveURL (0008,1190) of the instance. */
  retrieveUrl?: string;
  /** WarningReason (0008,1196): stored, with a warning. */
  warningReason?: number;
}

/** An instance not stored (FailedSOPSequence item); its UIDs are absent when the part could not be read. */
export interface FailedInstance {
  sopClassUid?: string;
  sopInstanceUid?: string;
  /** FailureReason (0008,1197). */
  failureReason?: number;
}

/** A Store Instances Response. */
export interface StoreInstancesResponse {
  /** RetrieveURL (0008,1190) of the study, when the stored instances belong to one study. */
  retrieveUrl?: string;
  referenced: ReferencedInstance[];
  failed: FailedInstance[];
}

/** A DICOM JSON data set (PS3.18 F.2). */
export type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

const K = {
  sopClassUid: tagKey(Tags.ReferencedSOPClassUID),
  sopInstanceUid: tagKey(Tags.ReferencedSOPInstanceUID),
  retrieveUrl: tagKey(Tags.RetrieveURL),
  warningReason: tagKey(Tags.WarningReason),
  failureReason: tagKey(Tags.FailureReason),
  failed: tagKey(Tags.FailedSOPSequence),
  referenced: tagKey(Tags.ReferencedSOPSequence),
};

const ui = (v: string) => ({ vr: 'UI', Value: [v] });
const ur = (v: string) => ({ vr: 'UR', Value: [v] });
const us = (v: number) => ({ vr: 'US', Value: [v] });

/** Encodes a Store Instances Response; an empty sequence is left out. */
export function encodeStoreResponse(r: StoreInstancesResponse): DicomJson {
  const body: DicomJson = {};
  if (r.retrieveUrl) body[K.retrieveUrl] = ur(r.retrieveUrl);
  if (r.failed.length > 0) {
    body[K.failed] = {
      vr: 'SQ',
      Value: r.failed.map((f) => {
        const item: DicomJson = {};
        if (f.sopClassUid) item[K.sopClassUid] = ui(f.sopClassUid);
        if (f.sopInstanceUid) item[K.sopInstanceUid] = ui(f.sopInstanceUid);
        if (f.failureReason !== undefined) item[K.failureReason] = us(f.failureReason);
        return item;
      }),
    };
  }
  if (r.referenced.length > 0) {
    body[K.referenced] = {
      vr: 'SQ',
      Value: r.referenced.map((s) => {
        const item: DicomJson = {};
        if (s.sopClassUid) item[K.sopClassUid] = ui(s.sopClassUid);
        item[K.sopInstanceUid] = ui(s.sopInstanceUid);
        if (s.retrieveUrl) item[K.retrieveUrl] = ur(s.retrieveUrl);
        if (s.warningReason !== undefined) item[K.warningReason] = us(s.warningReason);
        return item;
      }),
    };
  }
  return body;
}

type JsonDataset = Record<string, { vr?: string; Value?: unknown[] } | undefined>;

function firstString(dataset: JsonDataset, key: string): string | undefined {
  const v = dataset[key]?.Value?.[0];
  return typeof v === 'string' && v !== '' ? v : undefined;
}
// Some servers write US values as strings.
function firstNumber(dataset: JsonDataset, key: string): number | undefined {
  const v = dataset[key]?.Value?.[0];
  return typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : undefined;
}

/**
 * Decodes a STOW-RS response body (a string, an ArrayBuffer, the parsed object or a one-element array of it).
 * Returns undefined when the body is not a Store Instances Response (empty, XML, an HTML error page, neither
 * sequence present). A referenced item without a SOP Instance UID references nothing and is left out.
 */
export function decodeStoreResponse(body: unknown): StoreInstancesResponse | undefined {
  let doc: unknown = body;
  if (body instanceof ArrayBuffer) doc = Buffer.from(body).toString('utf8');
  if (typeof doc === 'string') {
    if (!doc.trim()) return undefined;
    try {
      doc = JSON.parse(doc);
    } catch {
      return undefined;
    }
  }
  if (Array.isArray(doc)) doc = doc[0];
  if (!doc || typeof doc !== 'object') return undefined;
  const dataset = doc as JsonDataset;
  if (!dataset[K.referenced] && !dataset[K.failed]) return undefined;
  const items = (key: string): JsonDataset[] => (dataset[key]?.Value ?? []).filter((x): x is JsonDataset => Boolean(x) && typeof x === 'object');
  const referenced: ReferencedInstance[] = [];
  for (const i of items(K.referenced)) {
    const sopInstanceUid = firstString(i, K.sopInstanceUid);
    if (sopInstanceUid)
      referenced.push({ sopClassUid: firstString(i, K.sopClassUid), sopInstanceUid, retrieveUrl: firstString(i, K.retrieveUrl), warningReason: firstNumber(i, K.warningReason) });
  }
  return {
    retrieveUrl: firstString(dataset, K.retrieveUrl),
    referenced,
    failed: items(K.failed).map((i) => ({ sopClassUid: firstString(i, K.sopClassUid), sopInstanceUid: firstString(i, K.sopInstanceUid), failureReason: firstNumber(i, K.failureReason) })),
  };
}
