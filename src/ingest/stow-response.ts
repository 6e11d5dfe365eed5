import { encodeStoreResponse, type DicomJson } from '../dicom/store-response';

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

/** DICOMweb retrieve URLs for an instance and a study, under the service's public base URL. */
export function retrieveUrls(baseUrl: string, o: { studyUid: string; seriesUid?: string; sopInstanceUid?: string }) {
  const study = `${baseUrl}/dicom-web/studies/${o.studyUid}`;
  return {
    study,
    instance: o.seriesUid && o.sopInstanceUid ? `${study}/series/${o.seriesUid}/instances/${o.sopInstanceUid}` : undefined,
  };
}

/**
 * The Store Instances Response (PS3.18 10.5.3) of a STOW-RS request as DICOM JSON: ReferencedSOPSequence for every
 * stored instance (with RetrieveURL and any WarningReason) and FailedSOPSequence with FailureReason for the rest.
 */
export function storeResponse(outcomes: PartOutcome[], baseUrl: string): DicomJson {
  const stored = outcomes.filter((o) => o.failureReason === undefined);
  const studies = [...new Set(stored.map((o) => o.studyUid).filter((u): u is string => Boolean(u)))];
  return encodeStoreResponse({
    retrieveUrl: studies.length === 1 ? retrieveUrls(baseUrl, { studyUid: studies[0] }).study : undefined,
    failed: outcomes
      .filter((o) => o.failureReason !== undefined)
      .map((o) => ({ sopClassUid: o.sopClassUid, sopInstanceUid: o.sopInstanceUid, failureReason: o.failureReason })),
    referenced: stored.map((o) => ({
      sopClassUid: o.sopClassUid,
      sopInstanceUid: o.sopInstanceUid!,
      retrieveUrl: retrieveUrls(baseUrl, { studyUid: o.studyUid!, seriesUid: o.seriesUid, sopInstanceUid: o.sopInstanceUid }).instance,
      warningReason: o.warningReason,
    })),
  });
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
