import { classifyStoreStatus } from '../../src/egress';
import { storeStatusOf } from '../../src/ingest/dimse';

test('C-STORE response statuses map to stored / retry / failed as STOW FailureReasons do', () => {
  const uid = '1.2.3';
  expect(classifyStoreStatus(uid, 0x0000)).toEqual({ sopInstanceUid: uid, result: 'stored' });
  expect(classifyStoreStatus(uid, 0xb000)).toEqual({ sopInstanceUid: uid, result: 'stored', reason: 'warning 0xB000' });
  expect(classifyStoreStatus(uid, 0xa700).result).toBe('retry');
  expect(classifyStoreStatus(uid, 0xa7ff).result).toBe('retry');
  expect(classifyStoreStatus(uid, 0x0110).result).toBe('retry');
  expect(classifyStoreStatus(uid, 0xa900)).toEqual({ sopInstanceUid: uid, result: 'failed', reason: 'C-STORE status 0xA900' });
  expect(classifyStoreStatus(uid, 0xc000).result).toBe('failed');
  expect(classifyStoreStatus(uid, 0x0122).result).toBe('failed');
});

test('the listener answers the accept outcome: its failure, else its warning, else success', () => {
  expect(storeStatusOf({ message: 'stored' })).toBe(0x0000);
  expect(storeStatusOf({ message: 'duplicate' })).toBe(0x0000);
  expect(storeStatusOf({ warningReason: 0xb00e, message: 'conflict' })).toBe(0xb00e);
  expect(storeStatusOf({ failureReason: 0xa700, transient: true })).toBe(0xa700);
  expect(storeStatusOf({ failureReason: 0xc000 })).toBe(0xc000);
});
