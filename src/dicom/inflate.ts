/**
 * Inflating Deflated Explicit VR Little Endian data sets (PS3.5 A.5) with an output cap, off the event loop:
 * zlib works through the input in chunks on the libuv thread pool and stops as soon as the output passes the cap,
 * so a small "deflate bomb" costs at most the cap in memory and never freezes the event loop.
 */
import { inflateRaw } from 'node:zlib';
import { DicomReason, LtError } from '../errors';

/** The inflated size allowed when nothing else is configured (256 MiB: a large enhanced CT series is smaller). */
export const DEFAULT_MAX_INFLATED_BYTES = 256 * 1024 * 1024;

/**
 * Inflates a raw deflate stream, refusing output larger than maxBytes. Throws LtError with DICOM reason 0xA700
 * (out of resources) when the output would pass the cap, 0xC000 (cannot understand) when the stream is corrupt.
 */
export function inflateDataset(data: Buffer, maxBytes: number = DEFAULT_MAX_INFLATED_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    inflateRaw(data, { maxOutputLength: Math.max(1, maxBytes) }, (err, out) => {
      if (!err) return resolve(out);
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        return reject(LtError.invalid(`deflated data set inflates to more than ${maxBytes} bytes (the inflated-size limit)`, DicomReason.OutOfResources));
      }
      reject(LtError.invalid(`corrupt deflated data set: ${err.message.slice(0, 200)}`, DicomReason.CannotUnderstand));
    });
  });
}
