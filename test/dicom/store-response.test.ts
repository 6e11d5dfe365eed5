/** The one Store Instances Response codec (src/dicom/store-response.ts): what ingest encodes, egress decodes. */
import { decodeStoreResponse, encodeStoreResponse, type StoreInstancesResponse } from '../../src/dicom/store-response';
import { classifyStowAnswer } from '../../src/egress';
import { storeResponse, storeStatus, type PartOutcome } from '../../src/ingest/stow-response';
import { DicomReason } from '../../src/errors';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const response: StoreInstancesResponse = {
  retrieveUrl: 'https://lt.example/dicom-web/studies/1.2.3',
  referenced: [
    { sopClassUid: CT, sopInstanceUid: '1.2.3.1', retrieveUrl: 'https://lt.example/dicom-web/studies/1.2.3/series/1.2.3.9/instances/1.2.3.1' },
    { sopClassUid: CT, sopInstanceUid: '1.2.3.2', warningReason: DicomReason.DuplicateDifferentContent },
  ],
  failed: [{ sopClassUid: CT, sopInstanceUid: '1.2.3.3', failureReason: DicomReason.OutOfResources }, { failureReason: DicomReason.CannotUnderstand }],
};

test('encode then decode gives the response back, through JSON text, bytes or the parsed object', () => {
  const json = encodeStoreResponse(response);
  expect(json['00081199'].Value).toHaveLength(2);
  expect(json['00081198'].Value).toEqual([
    { '00081150': { vr: 'UI', Value: [CT] }, '00081155': { vr: 'UI', Value: ['1.2.3.3'] }, '00081197': { vr: 'US', Value: [0xa700] } },
    { '00081197': { vr: 'US', Value: [0xc000] } },
  ]);
  const text = JSON.stringify(json);
  const bytes = Buffer.from(text);
  for (const body of [json, text, [json], bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)]) expect(decodeStoreResponse(body)).toEqual(response);
});

test('empty sequences are left out; a body that is no Store Instances Response decodes to undefined', () => {
  expect(encodeStoreResponse({ referenced: [], failed: [] })).toEqual({});
  for (const body of ['', '<html>busy</html>', '{}', null, 42]) expect(decodeStoreResponse(body)).toBeUndefined();
  // Some servers write US values as strings.
  expect(decodeStoreResponse({ '00081198': { vr: 'SQ', Value: [{ '00081155': { vr: 'UI', Value: ['1.2'] }, '00081197': { vr: 'US', Value: ['42752'] } }] } })?.failed).toEqual([
    { sopInstanceUid: '1.2', failureReason: 0xa700 },
  ]);
});

test("ingest's answer read back by egress: stored, stored with a warning, retried and failed as the outcomes say", () => {
  const part = (n: number, o: Partial<PartOutcome> = {}): PartOutcome => ({ sopClassUid: CT, sopInstanceUid: `1.2.3.${n}`, studyUid: '1.2.3', seriesUid: '1.2.3.9', ...o });
  const outcomes = [part(1), part(2, { warningReason: 0xb007 }), part(3, { failureReason: DicomReason.OutOfResources }), part(4, { failureReason: DicomReason.DataSetDoesNotMatchSopClass }), { failureReason: DicomReason.CannotUnderstand }];
  const status = storeStatus(outcomes);
  expect(status).toBe(202);
  const body = JSON.stringify(storeResponse(outcomes, 'http://127.0.0.1:8080'));
  expect(decodeStoreResponse(body)?.retrieveUrl).toBe('http://127.0.0.1:8080/dicom-web/studies/1.2.3');
  const sent = [1, 2, 3, 4, 5].map((n) => ({ sopInstanceUid: `1.2.3.${n}`, sopClassUid: CT, bytes: Buffer.alloc(0) }));
  expect(classifyStowAnswer(status, body, sent).map((o) => [o.sopInstanceUid, o.result, o.reason])).toEqual([
    ['1.2.3.1', 'stored', undefined],
    ['1.2.3.2', 'stored', 'warning 0xb007'],
    ['1.2.3.3', 'retry', 'HTTP 202, FailureReason 0xA700'],
    ['1.2.3.4', 'failed', 'HTTP 202, FailureReason 0xA900'],
    ['1.2.3.5', 'retry', 'HTTP 202'],
  ]);
});
