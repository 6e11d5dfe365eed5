import { LtError } from '../errors';

/** The parts of a multipart/related request body, as the parser finds them. */
export type MultipartEvent =
  | { type: 'partStart'; headers: Record<string, string> }
  | { type: 'data'; data: Buffer }
  | { type: 'partEnd' }
  | { type: 'end' };

/** What a STOW-RS Content-Type says (PS3.18 10.5.1.1). */
export interface StowContentType {
  boundary: string;
  /** The `type` parameter, lower-case, if given. */
  partType?: string;
}

// RFC 2046 5.1.1 caps boundaries at 70 characters, but Orthanc sends 73 (a doubled UUID): be liberal in what we accept.
const MAX_BOUNDARY = 200;
const MAX_PREAMBLE = 1024 * 1024;

/**
 * Parses `multipart/related; type="application/dicom"; boundary=...`. Anything else is 415 (PS3.18 10.5.1.1);
 * a multipart/related without a usable boundary is 400.
 */
export function parseStowContentType(header: string | undefined): StowContentType {
  if (!header) throw LtError.unsupportedMedia('Content-Type is missing; expected multipart/related; type="application/dicom"');
  const [mediaType, ...params] = splitParams(header);
  if (mediaType.toLowerCase() !== 'multipart/related')
    throw LtError.unsupportedMedia(`Content-Type ${mediaType} is not supported; expected multipart/related; type="application/dicom"`);
  const p: Record<string, string> = {};
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq < 0) continue;
    p[param.slice(0, eq).trim().toLowerCase()] = unquote(param.slice(eq + 1).trim());
  }
  const partType = p.type?.toLowerCase();
  if (partType !== undefined && partType !== 'application/dicom')
    throw LtError.unsupportedMedia(`multipart/related type "${p.type}" is not supported; only application/dicom`);
  const boundary = p.boundary;
  if (!boundary || boundary.length > MAX_BOUNDARY || /[\r\n]/.test(boundary))
    throw LtError.invalid('multipart/related Content-Type has no valid boundary parameter');
  return { boundary, partType };
}

function splitParams(header: string): string[] {
  // Split on ';' outside quotes.
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of header) {
    if (ch === '"') quoted = !quoted;
    if (ch === ';' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}

type State = 'preamble' | 'afterBoundary' | 'headers' | 'body' | 'epilogue';

/**
 * A streaming multipart parser (RFC 2046): feed it chunks, get events. It never holds more than one header block
 * or a delimiter's length of body, so memory stays flat whatever the body size. Synchronous and pure, which makes
 * it easy to fuzz.
 */
export class MultipartParser {
  private state: State = 'preamble';
  private buf: Buffer = Buffer.alloc(0);
  private readonly dashBoundary: Buffer;
  private readonly delimiter: Buffer;
  private seenParts = 0;
  private preambleBytes = 0;
  /** A format error found after events that were already handed out: thrown by the next push() or finish(). */
  private failure?: unknown;
  /** True until preamble bytes were discarded: only then may the body open with the boundary directly. */
  private atBodyStart = true;

  constructor(
    boundary: string,
    private readonly maxHeaderBytes = 16 * 1024,
  ) {
    this.dashBoundary = Buffer.from(`--${boundary}`, 'latin1');
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  }

  /** Number of parts whose headers were read. */
  get parts(): number {
    return this.seenParts;
  }

  /** True once the closing delimiter was read. */
  get done(): boolean {
    return this.state === 'epilogue';
  }

  /** Feeds one chunk and returns what it completed, in order. */
  push(chunk: Buffer): MultipartEvent[] {
    if (this.failure) throw this.failure;
    const events: MultipartEvent[] = [];
    if (this.state === 'epilogue') return events;
    if (this.state === 'preamble') this.preambleBytes += chunk.length;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    try {
      for (;;) {
        const progressed = this.step(events);
        if (!progressed) break;
      }
    } catch (e) {
      // Hand out what was complete before the malformed point (a whole part may have ended in this chunk) and
      // fail on the next call, so the outcome never depends on how the network split the body.
      if (events.length === 0) throw e;
      this.failure = e;
    }
    return events;
  }

  /** Call at the end of the body: throws 400 if the body ended before the closing delimiter. */
  finish(): void {
    if (this.failure) throw this.failure;
    if (this.state === 'epilogue') return;
    if (this.seenParts === 0) throw LtError.invalid('request body holds no multipart part (boundary not found)');
    throw LtError.invalid('multipart body ended before its closing boundary (truncated request)');
  }

  private step(events: MultipartEvent[]): boolean {
    switch (this.state) {
      case 'preamble': {
        // The first boundary may open the body directly or follow a preamble line.
        if (this.atBodyStart && this.buf.length >= this.dashBoundary.length && this.buf.subarray(0, this.dashBoundary.length).equals(this.dashBoundary)) {
          this.buf = this.buf.subarray(this.dashBoundary.length);
          this.state = 'afterBoundary';
          return true;
        }
        const i = this.buf.indexOf(this.delimiter);
        if (i >= 0) {
          this.buf = this.buf.subarray(i + this.delimiter.length);
          this.state = 'afterBoundary';
          return true;
        }
        // Keep only what could still be the start of a delimiter.
        // Past the body's first bytes, a boundary counts only after CRLF (the prefix check above is for byte 0).
        if (this.buf.length > this.delimiter.length) {
          this.buf = Buffer.from(this.buf.subarray(this.buf.length - this.delimiter.length));
          this.atBodyStart = false;
        }
        if (this.preambleBytes > MAX_PREAMBLE) throw LtError.invalid('no multipart boundary found in the first 1 MiB of the body');
        return false;
      }
      case 'afterBoundary': {
        // "--" closes the body; otherwise optional transport padding then CRLF opens a part.
        let i = 0;
        if (this.buf.length < 2) return false;
        if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) {
          this.state = 'epilogue';
          this.buf = Buffer.alloc(0);
          events.push({ type: 'end' });
          return false;
        }
        while (i < this.buf.length && (this.buf[i] === 0x20 || this.buf[i] === 0x09)) i++;
        if (i > 256) throw LtError.invalid('malformed multipart boundary line');
        if (this.buf.length < i + 2) return false;
        if (this.buf[i] !== 0x0d || this.buf[i + 1] !== 0x0a) throw LtError.invalid('malformed multipart boundary line');
        this.buf = this.buf.subarray(i + 2);
        this.state = 'headers';
        return true;
      }
      case 'headers': {
        // A part with no headers starts its body right after the boundary line's CRLF.
        if (this.buf.length >= 2 && this.buf[0] === 0x0d && this.buf[1] === 0x0a) {
          this.buf = this.buf.subarray(2);
          this.startPart(events, {});
          return true;
        }
        const end = this.buf.indexOf('\r\n\r\n', 0, 'latin1');
        if (end < 0) {
          // +3: the terminating CRLFCRLF may be only partly received yet (the whole-block check is below).
          if (this.buf.length > this.maxHeaderBytes + 3) throw LtError.invalid(`multipart part headers exceed ${this.maxHeaderBytes} bytes`);
          return false;
        }
        if (end > this.maxHeaderBytes) throw LtError.invalid(`multipart part headers exceed ${this.maxHeaderBytes} bytes`);
        const headers = parseHeaders(this.buf.subarray(0, end).toString('latin1'));
        this.buf = this.buf.subarray(end + 4);
        this.startPart(events, headers);
        return true;
      }
      case 'body': {
        const i = this.buf.indexOf(this.delimiter);
        if (i >= 0) {
          if (i > 0) events.push({ type: 'data', data: this.buf.subarray(0, i) });
          events.push({ type: 'partEnd' });
          this.buf = this.buf.subarray(i + this.delimiter.length);
          this.state = 'afterBoundary';
          return true;
        }
        // Everything except a possible partial delimiter at the end is body.
        const safe = this.buf.length - (this.delimiter.length - 1);
        if (safe > 0) {
          events.push({ type: 'data', data: this.buf.subarray(0, safe) });
          this.buf = this.buf.subarray(safe);
        }
        return false;
      }
      case 'epilogue':
        return false;
    }
  }

  private startPart(events: MultipartEvent[], headers: Record<string, string>): void {
    this.seenParts++;
    this.state = 'body';
    events.push({ type: 'partStart', headers });
  }
}

function parseHeaders(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw LtError.invalid('malformed multipart part header line');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}
