import { MultipartParser, parseStowContentType, type MultipartEvent } from '../../src/ingest/multipart';
import { LtError } from '../../src/errors';
import { multipartBody } from '../support/stow';

/** Feeds a body in chunks of the given sizes (cycled) and collects each part's bytes. */
function parse(body: Buffer, boundary: string, chunkSizes: number[]): { parts: Buffer[]; headers: Record<string, string>[]; done: boolean } {
  const p = new MultipartParser(boundary);
  const parts: Buffer[] = [];
  const headers: Record<string, string>[] = [];
  let cur: Buffer[] = [];
  const handle = (evs: MultipartEvent[]) => {
    for (const ev of evs) {
      if (ev.type === 'partStart') {
        cur = [];
        headers.push(ev.headers);
      } else if (ev.type === 'data') cur.push(Buffer.from(ev.data));
      else if (ev.type === 'partEnd') parts.push(Buffer.concat(cur));
    }
  };
  let off = 0;
  let i = 0;
  while (off < body.length) {
    const n = chunkSizes[i++ % chunkSizes.length];
    handle(p.push(body.subarray(off, off + n)));
    off += n;
  }
  return { parts, headers, done: p.done };
}

describe('STOW-RS Content-Type', () => {
  test('accepts quoted and unquoted parameters in any order', () => {
    expect(parseStowContentType('multipart/related; type="application/dicom"; boundary=abc')).toEqual({ boundary: 'abc', partType: 'application/dicom' });
    expect(parseStowContentType('Multipart/Related;boundary="a;b c";type=application/dicom').boundary).toBe('a;b c');
    expect(parseStowContentType('multipart/related; boundary=xyz').boundary).toBe('xyz');
  });
  test.each([
    [undefined, 415],
    ['application/dicom', 415],
    ['application/json', 415],
    ['multipart/related; type="application/dicom+json"; boundary=a', 415],
    ['multipart/related; type="application/dicom"', 400],
    [`multipart/related; type="application/dicom"; boundary=${'x'.repeat(201)}`, 400],
  ])('%s is refused with %d', (ct, status) => {
    expect(() => parseStowContentType(ct)).toThrow(LtError);
    try {
      parseStowContentType(ct);
    } catch (e) {
      expect((e as LtError).httpStatus).toBe(status);
    }
  });
});

describe('MultipartParser', () => {
  const payloads = [Buffer.from('first part'), Buffer.alloc(70000, 7), Buffer.from('\r\n--not-the-boundary\r\n'), Buffer.alloc(0)];
  const body = multipartBody(payloads, 'bnd');

  test.each([[[1]], [[3, 5, 7]], [[64]], [[4096]], [[body.length]]])('yields identical parts whatever the chunking (%j)', (sizes) => {
    const r = parse(body, 'bnd', sizes);
    expect(r.done).toBe(true);
    expect(r.parts).toHaveLength(payloads.length);
    r.parts.forEach((p, i) => expect(p.equals(payloads[i])).toBe(true));
    expect(r.headers[0]['content-type']).toBe('application/dicom');
  });

  test('Orthanc style: no preamble, no CRLF after the closing boundary; preamble and epilogue are ignored', () => {
    const withPreamble = Buffer.concat([Buffer.from('preamble text\r\n'), body, Buffer.from('\r\nepilogue')]);
    const r = parse(withPreamble, 'bnd', [11]);
    expect(r.parts.map((p) => p.length)).toEqual(payloads.map((p) => p.length));
  });

  test('random bodies and random chunkings never throw anything but LtError', () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let n = 0; n < 500; n++) {
      const b = Buffer.from(body);
      for (let k = 0; k < 5; k++) b[Math.floor(rand() * Math.min(b.length, 300))] = Math.floor(rand() * 256);
      const cut = b.subarray(0, Math.floor(rand() * b.length));
      try {
        parse(cut, 'bnd', [1 + Math.floor(rand() * 100)]);
      } catch (e) {
        expect(e).toBeInstanceOf(LtError);
      }
    }
  });

  test('a truncated body is reported by finish()', () => {
    const p = new MultipartParser('bnd');
    p.push(body.subarray(0, 100));
    expect(() => p.finish()).toThrow(/truncated/);
    const q = new MultipartParser('bnd');
    q.push(Buffer.from('no boundary here at all'));
    expect(() => q.finish()).toThrow(/no multipart part/);
  });

  test('oversized part headers are refused', () => {
    const p = new MultipartParser('bnd', 1024);
    expect(() => p.push(Buffer.from(`--bnd\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`))).toThrow(/headers exceed/);
  });
});
