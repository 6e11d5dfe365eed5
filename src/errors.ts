import { status as GrpcStatus } from '@grpc/grpc-js';

/** DICOM failure/warning reasons used in STOW-RS responses (PS3.18 10.5.3, PS3.4 Annex GG status codes). */
export const DicomReason = {
  ProcessingFailure: 0x0110,
  /** PS3.7 C.4: the SOP Instance UID is already another instance's (here: one in another study). */
  DuplicateSopInstance: 0x0111,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  StudyUidMismatch: 0xa901,
  CannotUnderstand: 0xc000,
  CoercionOfDataElements: 0xb000,
  DataSetDoesNotMatchSopClassWarning: 0xb007,
  DuplicateDifferentContent: 0xb00e,
} as const;

/** Our one error type: carries the HTTP status, the gRPC code and, where it applies, the DICOM reason. */
export class LtError extends Error {
  constructor(
    message: string,
    readonly httpStatus: number,
    readonly grpcCode: GrpcStatus,
    readonly dicomReason?: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'LtError';
  }

  static invalid(message: string, dicomReason?: number, details?: Record<string, unknown>): LtError {
    return new LtError(message, 400, GrpcStatus.INVALID_ARGUMENT, dicomReason, details);
  }
  static notFound(message: string): LtError {
    return new LtError(message, 404, GrpcStatus.NOT_FOUND);
  }
  /** The resource existed but its content was removed on purpose (spool retention). */
  static gone(message: string): LtError {
    return new LtError(message, 410, GrpcStatus.NOT_FOUND);
  }
  static conflict(message: string, dicomReason?: number): LtError {
    return new LtError(message, 409, GrpcStatus.FAILED_PRECONDITION, dicomReason);
  }
  static unsupportedMedia(message: string): LtError {
    return new LtError(message, 415, GrpcStatus.INVALID_ARGUMENT, DicomReason.CannotUnderstand);
  }
  static tooLarge(message: string): LtError {
    return new LtError(message, 413, GrpcStatus.RESOURCE_EXHAUSTED, DicomReason.OutOfResources);
  }
  static busy(message: string): LtError {
    return new LtError(message, 503, GrpcStatus.RESOURCE_EXHAUSTED, DicomReason.OutOfResources);
  }
  /** Over the caller's request rate: 429 with Retry-After, RESOURCE_EXHAUSTED, 0xA700. */
  static tooManyRequests(message: string, retryAfterSeconds: number): LtError {
    return new LtError(message, 429, GrpcStatus.RESOURCE_EXHAUSTED, DicomReason.OutOfResources, { retryAfterSeconds });
  }
  static unavailable(message: string): LtError {
    return new LtError(message, 503, GrpcStatus.UNAVAILABLE, DicomReason.ProcessingFailure);
  }
  static unauthenticated(message = 'authentication required'): LtError {
    return new LtError(message, 401, GrpcStatus.UNAUTHENTICATED);
  }
  static forbidden(message: string): LtError {
    return new LtError(message, 403, GrpcStatus.PERMISSION_DENIED);
  }
  static internal(message: string): LtError {
    return new LtError(message, 500, GrpcStatus.INTERNAL, DicomReason.ProcessingFailure);
  }
  static requestTimeout(message: string): LtError {
    return new LtError(message, 408, GrpcStatus.DEADLINE_EXCEEDED, DicomReason.ProcessingFailure);
  }
  static deadline(message: string): LtError {
    return new LtError(message, 504, GrpcStatus.DEADLINE_EXCEEDED);
  }
}

/** Narrows anything thrown to an LtError; unknown errors become INTERNAL (their message kept for the log only). */
export function asLtError(e: unknown): LtError {
  if (e instanceof LtError) return e;
  if (isStorageFull(e)) return LtError.busy('storage full');
  if (isOutOfFileDescriptors(e)) return LtError.busy('out of file descriptors; retry later');
  if (isDatabaseUnavailable(e)) return LtError.unavailable('database unavailable; retry later');
  return LtError.internal('internal error');
}

/** True for errors that mean the disk or quota is full. */
export function isStorageFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** True when the process has run out of file descriptors (its own limit or the system's). */
export function isOutOfFileDescriptors(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * Faults that pass by themselves, so work hit by them is retried (for hours, LT_TRANSIENT_RETRY_SECONDS) rather
 * than failed: a full disk, no descriptors left, the database away, inference workers busy or unreachable.
 */
export function isTransientFault(e: unknown): boolean {
  if (isStorageFull(e) || isOutOfFileDescriptors(e) || isDatabaseUnavailable(e)) return true;
  return e instanceof LtError && (e.grpcCode === GrpcStatus.RESOURCE_EXHAUSTED || e.grpcCode === GrpcStatus.UNAVAILABLE) && e.httpStatus !== 413;
}

/**
 * A refusal of the input itself (INVALID_ARGUMENT: malformed data, a worker refusing the volume it was sent): the same
 * input gets the same answer, so the work fails at once with its report instead of being tried again.
 */
export function isRefusedInput(e: unknown): boolean {
  return e instanceof LtError && e.grpcCode === GrpcStatus.INVALID_ARGUMENT;
}

/** Connection-level failures of PostgreSQL (down, restarting, unreachable): transient, so callers ask for a retry. */
export function isDatabaseUnavailable(e: unknown): boolean {
  const err = ((e as { driverError?: unknown } | undefined)?.driverError ?? e) as { code?: unknown; message?: unknown } | undefined;
  const code = typeof err?.code === 'string' ? err.code : '';
  // SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, crash, cannot connect now), 53300 (too many connections)
  if (/^08/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code)) return true;
  const message = typeof err?.message === 'string' ? err.message : '';
  return /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect/.test(message);
}
