/** Outcome of one part of a STOW-RS request. */
export interface PartOutcome {
  sopClassUid?: string;
  sopInstanceUid?: string;
  studyUid?: string;
  seriesUid?: string;
  /** Set on failure (FailureReason, PS3.18 Table 10.5.3-2 / PS3.4 GG). */
  failureReason?: number;
  /** Set on success with a warning (WarningReason). */
  warningReason?: number;
  /** A failure that passes (disk full, database down): the sender should retry the instance later. */
  transient?: boolean;
  /** Human-readable reason, for logs, audit and the operator; not part of the DICOM response. */
  message?: string;
}

type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

const ui = (v: string) => ({ vr: 'UI', Value: [v] });
const ur = (v: string) => ({ vr: 'UR', Value: [v] });
const us = (v: number) => ({ vr: 'US', Value: [v] });

/** DICOMweb retrieve URLs for an instance and a study, under the service's public base URL. */
export function retrieveUrls(baseUrl: string, o: { studyUid: string; seriesUid?: string; sopInstanceUid?: string }) {
  const study = `${baseUrl}/dicom-web/studies/${o.studyUid}`;
  return {
    study,
    instance: o.seriesUid && o.sopInstanceUid ? `${study}/series/${o.seriesUid}/instances/${o.sopInstanceUid}` : undefined,
  };
}

/**
 * The Store Instances Response Module (PS3.18 10.5.3) as DICOM JSON: ReferencedSOPSequence for every stored
 * instance (with RetrieveURL and any WarningReason) and FailedSOPSequence with FailureReason for the rest.
 */
export function storeResponse(outcomes: PartOutcome[], baseUrl: string): DicomJson {
  const body: DicomJson = {};
  const stored = outcomes.filter((o) => o.failureReason === undefined);
  const failed = outcomes.filter((o) => o.failureReason !== undefined);
  const studies = new Set(stored.map((o) => o.studyUid).filter(Boolean));
  if (studies.size === 1) body['00081190'] = ur(retrieveUrls(baseUrl, { studyUid: [...studies][0]! }).study);
  if (failed.length > 0) {
    body['00081198'] = {
      vr: 'SQ',
      Value: failed.map((o) => {
        const item: DicomJson = {};
        if (o.sopClassUid) item['00081150'] = ui(o.sopClassUid);
        if (o.sopInstanceUid) item['00081155'] = ui(o.sopInstanceUid);
        item['00081197'] = us(o.failureReason!);
        return item;
      }),
    };
  }
  if (stored.length > 0) {
    body['00081199'] = {
      vr: 'SQ',
      Value: stored.map((o) => {
        const item: DicomJson = { '00081150': ui(o.sopClassUid!), '00081155': ui(o.sopInstanceUid!) };
        const url = retrieveUrls(baseUrl, { studyUid: o.studyUid!, seriesUid: o.seriesUid, sopInstanceUid: o.sopInstanceUid }).instance;
        if (url) item['00081190'] = ur(url);
        if (o.warningReason !== undefined) item['00081196'] = us(o.warningReason);
        return item;
      }),
    };
  }
  return body;
}

/**
 * HTTP status for a STOW-RS response: 200 all stored cleanly; 202 some stored, or stored with warnings;
 * 409 none stored (microsoft/dicom-server convention; Orthanc's 400 for "all failed" is less precise).
 */
export function storeStatus(outcomes: PartOutcome[]): number {
  const stored = outcomes.filter((o) => o.failureReason === undefined);
  if (stored.length === 0) return 409;
  if (stored.length < outcomes.length || stored.some((o) => o.warningReason !== undefined)) return 202;
  return 200;
}
