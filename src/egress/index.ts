/** Delivery stage: the durable outbox and where results go (PACS over STOW-RS or C-STORE, or a local folder). */
import type { Config } from '../config';
import { DicomWebTarget } from './dicomweb-target';
import { DimseTarget } from './dimse-target';
import { FolderTarget } from './folder-target';
import type { DeliveryTarget } from './target';

export { enqueueResults, jobDeliveryState, Deliverer, backoffMs, type DelivererOptions, type DeliveryRound, type JobDeliveryState } from './outbox';
export { DicomWebTarget, retryAfterMs } from './dicomweb-target';
export { DimseTarget, classifyStoreStatus } from './dimse-target';
export { FolderTarget, writeFileDurable } from './folder-target';
export { OAuth2ClientCredentials, createPacsAuth, pacsHttpsAgent, type PacsAuth, type PacsConfig } from '../dicom/pacs-auth';
export { classifyStowAnswer, type DeliveryTarget, type InstanceOutcome, type OutgoingInstance, type StoreResult } from './target';

/** The target the config asks for: the AE of LT_RESULTS_DIMSE, else the PACS when LT_PACS_URL is set, else Config.outputDir. */
export function createDeliveryTarget(config: Pick<Config, 'pacs' | 'resultsDimse' | 'outputDir'>): DeliveryTarget {
  if (config.resultsDimse) return new DimseTarget(config.resultsDimse);
  return config.pacs ? new DicomWebTarget(config.pacs) : new FolderTarget(config.outputDir);
}
