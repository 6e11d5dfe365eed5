import { derivedUid } from '../dicom/uid';
import { PACKAGE_VERSION } from '../paths';
import type { NaturalDataset } from '../dicom/dcmjs';
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

/** Contributing Equipment Sequence (0018,A001) as IHE AI Results asks: the AI as processing equipment. */
export function contributingEquipment(algorithmVersion: string, when: { date: string; time: string; offset: string }): NaturalDataset[] {
  return [
    {
      PurposeOfReferenceCodeSequence: [new CodedConcept(DCM.ProcessingEquipment).toItem()],
      Manufacturer: DEVICE.manufacturer,
      ManufacturerModelName: DEVICE.modelName,
      SoftwareVersions: [DEVICE.softwareVersion, algorithmVersion.slice(0, 64)].filter(Boolean),
      DeviceUID: DEVICE.uid,
      ContributionDateTime: `${when.date}${when.time}${when.offset}`,
      ContributionDescription: 'AI triage of chest CT (lung-triage); output not reviewed by a physician',
    },
  ];
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
