import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';

/** Context carried through async calls and stamped on every log line. Holds ids only, never PHI. */
export interface LogContext {
  requestId?: string;
  jobId?: string;
  study?: string;
  component?: string;
}

type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const storage = new AsyncLocalStorage<LogContext>();
let minLevel: Level = (process.env.LT_LOG_LEVEL as Level) in ORDER ? (process.env.LT_LOG_LEVEL as Level) : 'info';
let sink: (line: string) => void = (line) => process.stdout.write(line + '\n');

/** Sets the minimum level and, for tests or the CLI, where lines go. */
export function configureLogger(opts: { level?: Level; sink?: (line: string) => void }): void {
  if (opts.level) minLevel = opts.level;
  if (opts.sink) sink = opts.sink;
}

/** Runs fn with extra log context merged over the current one. */
export function withLogContext<T>(ctx: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...ctx }, fn);
}

/**
 * A short, stable, non-reversible tag for a Study Instance UID, so logs can correlate a study without
 * writing the UID itself (UIDs can embed dates and site identifiers).
 */
export function studyTag(studyUid: string): string {
  return createHash('sha256').update(studyUid).digest('hex').slice(0, 12);
}

/** A DICOM UID (five components or more: IPv4 addresses and versions have fewer). */
const UID_IN_TEXT = /(?<![\d.])[0-2](?:\.(?:0|[1-9]\d*)){4,}(?![\d.])/g;
/** UIDs the standard defines (transfer syntaxes, SOP classes) say nothing about a patient and stay readable. */
const DICOM_ROOT = '1.2.840.10008.';

/**
 * The line as written: any instance UID that reached it anyway, in an error message or a reason from a library, is
 * replaced by its tag (uid:<studyTag>), so no log line carries one.
 */
function redactUids(text: string): string {
  return text.replace(UID_IN_TEXT, (uid) => (uid.startsWith(DICOM_ROOT) ? uid : `uid:${studyTag(uid)}`));
}

function write(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (ORDER[level] < ORDER[minLevel]) return;
  const line: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...storage.getStore(), ...fields };
  const err = fields?.err;
  if (err instanceof Error) line.err = { name: err.name, message: err.message, stack: err.stack };
  sink(redactUids(JSON.stringify(line)));
}

/** JSON-lines logger. Callers pass ids and counts; never names, birth dates or other patient data. */
export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};
