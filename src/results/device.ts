import { derivedUid } from '../dicom/uid';
import { PACKAGE_VERSION } from '../paths';
import type { NaturalDataset } from '../dicom/dcmjs';
import type { ModelIdentity } from '../inference/types';
import { DCM } from './codes';
import { CodedConcept } from './sr/content';
import type { DeviceIdentity } from './sr/templates';

/** lung-triage as the device that made the results (observer, equipment, contributing equipment). */
export const DEVICE: DeviceIdentity = {
  uid: derivedUid('lung-triage', 'device'),
  name: 'lung-triage',
  manufacturer: 'lung-triage project',
  modelName: 'lung-triage AI triage of chest CT',
  softwareVersion: PACKAGE_VERSION,
};

/** Manufacturer, model, software versions (General and Enhanced General Equipment modules, PS3.3 C.7.5.1/C.7.5.2). */
export function equipmentAttributes(algorithmVersion: string): NaturalDataset {
  return {
    Manufacturer: DEVICE.manufacturer,
    ManufacturerModelName: DEVICE.modelName,
    DeviceSerialNumber: DEVICE.uid.slice(-16),
    SoftwareVersions: [DEVICE.softwareVersion, algorithmVersion.slice(0, 64)].filter(Boolean),
  };
}

/** What each model contributed, as its Contributing Equipment item describes it. */
const MODEL_CONTRIBUTION: Record<ModelIdentity['role'], string> = {
  slice: 'slice network: lesion and infection map of each CT slice',
  patient: 'patient level: the study decision over the volume evidence',
};

/**
 * Contributing Equipment Sequence (0018,A001) as IHE AI Results describes it: one item per algorithm (the slice
 * network, the patient-level model), each as processing equipment with its model name, version and a Device UID of
 * its own (from its name, version and weights); lung-triage itself when no model is known (a report made before
 * inference).
 */
export function contributingEquipment(models: ModelIdentity[], when: { date: string; time: string; offset: string }): NaturalDataset[] {
  const item = (modelName: string, version: string, uid: string, description: string): NaturalDataset => ({
    PurposeOfReferenceCodeSequence: [new CodedConcept(DCM.ProcessingEquipment).toItem()],
    Manufacturer: DEVICE.manufacturer,
    ManufacturerModelName: modelName.slice(0, 64),
    SoftwareVersions: [version.slice(0, 64)],
    DeviceUID: uid,
    ContributionDateTime: `${when.date}${when.time}${when.offset}`,
    ContributionDescription: `${description}; output not reviewed by a physician`,
  });
  if (models.length === 0) return [item(DEVICE.modelName, DEVICE.softwareVersion, DEVICE.uid, 'AI triage of chest CT (lung-triage)')];
  return [...models]
    .sort((a, b) => (a.role === b.role ? 0 : a.role === 'slice' ? -1 : 1))
    .map((m) => item(m.name, m.version, derivedUid('lung-triage', 'model', m.role, m.name, m.version, m.sha256), MODEL_CONTRIBUTION[m.role]));
}

/**
 * DICOM DA and TM for a moment in the machine's local time zone (process TZ), with the zone's offset as Timezone
 * Offset From UTC (0008,0201) wants it ("+HHMM" / "-HHMM"), so readers do not shift the times (PS3.3 C.12.1.1.8).
 */
export function dicomDateTime(d: Date): { date: string; time: string; offset: string } {
  const two = (n: number) => String(n).padStart(2, '0');
  const minutes = -d.getTimezoneOffset();
  const abs = Math.abs(minutes);
  return {
    date: `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}`,
    time: `${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`,
    offset: `${minutes < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}${two(abs % 60)}`,
  };
}
