import { closeSync, fstatSync, openSync } from 'node:fs';
import { DEFAULT_MAX_INFLATED_BYTES } from '../dicom/inflate';
import { unsupportedCharacterSet } from '../dicom/dcmjs';
import { checkedHeader, type InstanceHeader } from '../dicom/instance-header';
import { FileBytes, parsePart10Inflating, type DicomDataset, type ParsedFile } from '../dicom/part10';
import { Tags } from '../dicom/tags';
import { isValidUid } from '../dicom/uid';
import { DicomReason, LtError } from '../errors';
import { requestedPriorityRank, type PriorityRank } from '../triage-priority';

/** The identifying attributes of a received instance, read from its header. */
export interface InstanceInfo {
  sopClassUid: string;
  sopInstanceUid: string;
  studyUid: string;
  seriesUid: string;
  transferSyntaxUid: string;
  modality?: string;
  /** The rank the order asks for (Requested Procedure Priority), when the header states one. */
  requestedPriority?: PriorityRank;
  /** The parsed header later stages use (recorded with the instance row), from this same parse. */
  header: InstanceHeader;
}

/**
 * The highest rank Requested Procedure Priority (0040,1003) asks for, at the top level or in a Request Attributes
 * Sequence (0040,0275) item, where an image carries its order's attributes.
 */
function requestedPriority(dataset: DicomDataset): PriorityRank | undefined {
  let best: PriorityRank | undefined;
  for (const item of [dataset, ...dataset.items(Tags.RequestAttributesSequence)]) {
    const rank = requestedPriorityRank(item.strings(Tags.RequestedProcedurePriority)[0]);
    if (rank !== undefined && (best === undefined || rank > best)) best = rank;
  }
  return best;
}

/** Limits of {@link readInstanceInfo}. */
export interface InstanceInfoOptions {
  /** Most bytes a deflated data set may inflate to (default DEFAULT_MAX_INFLATED_BYTES); more is 0xA700. */
  maxInflatedBytes?: number;
}

/**
 * Checks a received Part 10 file on disk and reads the attributes that identify it. Throws LtError with the DICOM
 * failure reason: 0xC000 when it is not understood (not DICOM, truncated, corrupt), 0xA900 when required
 * identifying attributes are missing or malformed, 0xA700 when a deflated data set inflates past the limit; its
 * details carry the {@link KnownUids} when the header could be read.
 * Every element is walked to the end of the file (src/dicom/part10.ts, which reads only element headers of a
 * large file); a deflated data set is inflated off the event loop with a cap, then walked with the same guards.
 * The same parse gives the header later stages use, so no stage reads the file's header again.
 */
export async function readInstanceInfo(file: string, opts: InstanceInfoOptions = {}): Promise<InstanceInfo> {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const src = new FileBytes(fd, size);
    const maxInflatedBytes = opts.maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES;
    let parsed: ParsedFile;
    try {
      parsed = await parsePart10Inflating(src, { toEnd: true, maxInflatedBytes });
    } catch (e) {
      // A refusal further on (pixel data, trailing elements) names the instance when the header before it reads.
      const known = await parsePart10Inflating(src, { maxInflatedBytes }).then(
        (header) => knownUids(header.dataset),
        () => ({}),
      );
      if (e instanceof LtError) throw new LtError(e.message, e.httpStatus, e.grpcCode, e.dicomReason, { ...e.details, ...known });
      throw LtError.invalid('DICOM structure could not be read', DicomReason.CannotUnderstand, known);
    }
    const { meta, dataset } = parsed;
    const known = knownUids(dataset);
    const info = {
      sopClassUid: dataset.string(Tags.SOPClassUID),
      sopInstanceUid: dataset.string(Tags.SOPInstanceUID),
      studyUid: dataset.string(Tags.StudyInstanceUID),
      seriesUid: dataset.string(Tags.SeriesInstanceUID),
    };
    for (const [name, value] of Object.entries(info)) {
      if (value === undefined) throw LtError.invalid(`${name} is missing`, DicomReason.DataSetDoesNotMatchSopClass, known);
      if (!isValidUid(value)) throw LtError.invalid(`${name} is not a valid UID (PS3.5 9.1)`, DicomReason.DataSetDoesNotMatchSopClass, known);
    }
    const charset = unsupportedCharacterSet(dataset.strings(Tags.SpecificCharacterSet));
    if (charset) throw LtError.invalid(charset, DicomReason.CannotUnderstand, known);
    const metaSop = meta.string(Tags.MediaStorageSOPInstanceUID);
    if (metaSop && metaSop !== info.sopInstanceUid)
      throw LtError.invalid('MediaStorageSOPInstanceUID differs from SOPInstanceUID', DicomReason.DataSetDoesNotMatchSopClass, known);
    return {
      sopClassUid: info.sopClassUid!,
      sopInstanceUid: info.sopInstanceUid!,
      studyUid: info.studyUid!,
      seriesUid: info.seriesUid!,
      transferSyntaxUid: parsed.transferSyntaxUid,
      modality: dataset.string(Tags.Modality),
      requestedPriority: requestedPriority(dataset),
      header: checkedHeader(file, parsed, size),
    };
  } finally {
    closeSync(fd);
  }
}

/** The SOP Instance and Class UIDs a refused file names, when they are valid UIDs: its Store response entry says which instance. */
export type KnownUids = { sopInstanceUid?: string; sopClassUid?: string };

function knownUids(dataset: DicomDataset): KnownUids {
  const valid = (v: string | undefined) => (v !== undefined && isValidUid(v) ? v : undefined);
  return { sopInstanceUid: valid(dataset.string(Tags.SOPInstanceUID)), sopClassUid: valid(dataset.string(Tags.SOPClassUID)) };
}
