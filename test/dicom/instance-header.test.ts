/**
 * The header ingest records (src/dicom/instance-header.ts): its Patient/Study excerpt (part10Excerpt) read by dcmjs
 * gives the results exactly what the whole file gives, in every uncompressed transfer syntax the volume stage takes
 * (implicit VR, explicit little and big endian, deflated), sequences of undefined length included.
 */
import { readPart10, TransferSyntax } from '../../src/dicom/dcmjs';
import { headerFromParsed } from '../../src/dicom/instance-header';
import { parsePart10Inflating } from '../../src/dicom/part10';
import { studyContextFromDataset } from '../../src/results';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { deflatedPart10 } from '../support/deflate';

const extra = {
  IssuerOfPatientID: '',
  PatientAge: '042Y',
  RequestAttributesSequence: [{ RequestedProcedureID: 'RP-1', RequestedProcedureDescription: 'CT chest', ScheduledProcedureStepID: 'S1' }],
};

function slice(transferSyntax: string): Buffer {
  return phantomSeries(chestPhantom({ size: 16, slices: 1 }), { transferSyntax, extra, patientName: 'Ünal^Ayşe' })[0].bytes;
}

describe('the Patient/Study excerpt of the recorded header', () => {
  const files: [string, Buffer][] = [
    ['implicit VR little endian', slice(TransferSyntax.ImplicitLittle)],
    ['explicit VR little endian', slice(TransferSyntax.ExplicitLittle)],
    ['explicit VR big endian', slice(TransferSyntax.ExplicitBig)],
    ['deflated explicit VR little endian', deflatedPart10(slice(TransferSyntax.ExplicitLittle))],
  ];

  test.each(files)('%s: the study context from the excerpt equals the one from the whole file', async (_name, bytes) => {
    const h = headerFromParsed('x.dcm', await parsePart10Inflating(bytes), bytes.length);
    const whole = studyContextFromDataset(readPart10(bytes).dataset);
    const excerpt = readPart10(h.patientStudy!).dataset;
    expect(studyContextFromDataset(excerpt)).toEqual(whole);
    expect(whole).toMatchObject({ PatientName: 'Ünal^Ayşe', IssuerOfPatientID: '', PatientAge: '042Y', RequestedProcedureID: 'RP-1' });
    expect(excerpt.PixelData).toBeUndefined();
    expect(h.patientStudy!.length).toBeLessThan(1024);
  });
});
