import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { isStorageFull } from '../errors';
import { studyTag } from '../logger';
import type { DeliveryTarget, OutgoingInstance, StoreResult } from './target';

/** Writes a file durably: temp file, fsync, rename, fsync of the directory. */
export function writeFileDurable(file: string, bytes: Buffer): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o640);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/**
 * The no-PACS target: results land in <outputDir>/<studyUidHash>/<SOPInstanceUID>.dcm (the hash keeps UIDs out
 * of directory listings that end up in tickets). Same interface as the PACS, so the outbox works unchanged;
 * writing the same instance again overwrites it with identical bytes (same UID, same content).
 */
export class FolderTarget implements DeliveryTarget {
  readonly description: string;
  constructor(readonly outputDir: string) {
    this.description = `folder ${outputDir}`;
  }

  /** The folder a study's results go to. */
  studyDir(studyUid: string): string {
    return path.join(this.outputDir, studyTag(studyUid));
  }

  /** The file an instance is written to. */
  fileFor(studyUid: string, sopInstanceUid: string): string {
    return path.join(this.studyDir(studyUid), `${sopInstanceUid}.dcm`);
  }

  async store(studyUid: string, instances: OutgoingInstance[]): Promise<StoreResult> {
    return {
      outcomes: instances.map((i) => {
        try {
          writeFileDurable(this.fileFor(studyUid, i.sopInstanceUid), i.bytes);
          return { sopInstanceUid: i.sopInstanceUid, result: 'stored' as const };
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          return { sopInstanceUid: i.sopInstanceUid, result: isStorageFull(e) || code === 'EIO' ? ('retry' as const) : ('failed' as const), reason: code ?? 'write failed' };
        }
      }),
    };
  }
}
