import { configureLogger, log, studyTag } from '../src/logger';

describe('log lines carry no instance UIDs', () => {
  const lines: string[] = [];
  beforeAll(() => configureLogger({ sink: (l) => lines.push(l) }));
  afterAll(() => configureLogger({ sink: (l) => process.stdout.write(l + '\n') }));

  test('a UID inside an error message, a stack or a reason is replaced by its tag; standard UIDs, addresses and versions stay', () => {
    const study = '1.2.826.0.1.3680043.8.498.12345678901234567890';
    log.error('job failed', { reason: `no such study ${study}`, err: new Error(`WADO-RS 404 for ${study}`), worker: '127.0.0.1:50051', version: '2.0.0' });
    log.warn('unsupported transfer syntax 1.2.840.10008.1.2.4.90');
    const [failed, warned] = lines.slice(-2);
    expect(failed).not.toContain(study);
    expect(failed).toContain(`uid:${studyTag(study)}`);
    expect(failed).toContain('127.0.0.1:50051');
    expect(failed).toContain('"version":"2.0.0"');
    expect(JSON.parse(failed).err.stack).not.toContain(study);
    expect(warned).toContain('1.2.840.10008.1.2.4.90');
  });
});
