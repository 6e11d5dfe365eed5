/**
 * The one place dcmjs-dimse (DIMSE networking: associations, C-ECHO, C-STORE) is imported, and the DIMSE facts the
 * listener and the results sender share.
 */
import * as dimse from 'dcmjs-dimse';
import { DicomDict, DicomMetaDictionary, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION, SopClass, TransferSyntax, type NaturalDataset } from './dcmjs';

// Its log lines are plain text (ours are JSON lines) and name SOP Instance UIDs: keep it silent.
dimse.log.setLevel('silent');

export const { Scp, Client, Dataset } = dimse;
export const { CStoreRequest } = dimse.requests;
export const { CStoreResponse, CEchoResponse } = dimse.responses;
export const { Status, RejectResult, RejectSource, RejectReason, PresentationContextResult } = dimse.constants;
export type Association = dimse.association.Association;
export type PresentationContext = dimse.association.PresentationContext;
export type CStoreRequestType = dimse.requests.CStoreRequest;
export type CEchoRequestType = dimse.requests.CEchoRequest;
export type CStoreResponseType = dimse.responses.CStoreResponse;
export type CEchoResponseType = dimse.responses.CEchoResponse;

/** Verification (C-ECHO, PS3.4 Annex A). */
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/** The storage SOP classes the listener accepts: the CT images the pipeline analyses. */
export const ACCEPTED_STORAGE_CLASSES: ReadonlySet<string> = new Set([SopClass.CtImage, SopClass.EnhancedCtImage]);

/** The transfer syntaxes we decode (src/volume), in the order we prefer them when a context offers several. */
export const DECODABLE_TRANSFER_SYNTAXES: readonly string[] = [
  TransferSyntax.ExplicitLittle,
  TransferSyntax.ImplicitLittle,
  TransferSyntax.JpegLosslessSV1,
  TransferSyntax.JpegLossless,
  TransferSyntax.JpegLsLossless,
  TransferSyntax.Jpeg2000Lossless,
  TransferSyntax.Rle,
  TransferSyntax.DeflatedExplicitLittle,
  TransferSyntax.ExplicitBig,
  TransferSyntax.JpegBaseline,
  TransferSyntax.JpegExtended,
  TransferSyntax.JpegLsNearLossless,
  TransferSyntax.Jpeg2000,
];

/** 0xB000-0xBFFF: stored, with a warning (PS3.4 C.4.2.1.4 / GG.4). */
export function isWarningStatus(status: number): boolean {
  return (status & 0xf000) === 0xb000;
}

/**
 * The preamble and file meta information of a Part 10 file holding a data set received by C-STORE: the data set
 * bytes, as they came in the accepted transfer syntax, follow it unchanged.
 */
export function part10Header(o: { sopClassUid: string; sopInstanceUid: string; transferSyntaxUid: string; sourceAeTitle: string }): Buffer {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: o.sopClassUid,
    MediaStorageSOPInstanceUID: o.sopInstanceUid,
    TransferSyntaxUID: o.transferSyntaxUid,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION,
    SourceApplicationEntityTitle: o.sourceAeTitle,
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta as NaturalDataset));
  dict.dict = {};
  return Buffer.from(dict.write());
}
