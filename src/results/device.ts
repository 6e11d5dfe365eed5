import { readFileSync } from 'node:fs';
import path from 'node:path';
import { derivedUid } from '../dicom/uid';
import type { NaturalDataset } from '../dicom/dcmjs';
import { DCM } from './codes';
import { CodedConcept } from './sr/content';
import type { DeviceIdentity } from './sr/templates';

function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(path.resolve(__dirname, rel), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lung-triage' && pkg.version) return pkg.version;
    } catch {
      /* try the next location (ts source vs compiled dist) */
    }
  }
  return '0.0.0';
}

/** lung-triage as the device that made the results (observer, equipment, contributing equipment). */
export const DEVICE: DeviceIdentity = {
  uid: derivedUid('lung-triage', 'device'),
  name: 'lung-triage',
  manufacturer: 'lung-triage project',
  modelName: 'lung-triage AI triage of chest CT',
  softwareVersion: packageVersion(),
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
export function contributingEquipment(algorithmVersion: string, when: { date: string; time: string }): NaturalDataset[] {
  return [
    {
      PurposeOfReferenceCodeSequence: [new CodedConcept(DCM.ProcessingEquipment).toItem()],
      Manufacturer: DEVICE.manufacturer,
      ManufacturerModelName: DEVICE.modelName,
      SoftwareVersions: [DEVICE.softwareVersion, algorithmVersion.slice(0, 64)].filter(Boolean),
      DeviceUID: DEVICE.uid,
      ContributionDateTime: `${when.date}${when.time}`,
      ContributionDescription: 'AI triage of chest CT (lung-triage); output not reviewed by a physician',
    },
  ];
}

/** DICOM DA and TM for a moment (UTC, as the service has no site timezone setting). */
export function dicomDateTime(d: Date): { date: string; time: string } {
  const iso = d.toISOString();
  return { date: iso.slice(0, 10).replace(/-/g, ''), time: iso.slice(11, 19).replace(/:/g, '') };
}
