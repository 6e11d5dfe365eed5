import { createHash, randomBytes, type Hash } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { isValidUid } from '../dicom/uid';
import { LtError } from '../errors';

/** Network chunks are small (~16-64 KiB); writing them in blocks of this size saves thousands of syscalls. */
const WRITE_BLOCK = 1024 * 1024;

/** A part being received: written to a temp file, hashed on the way, fsynced before anyone relies on it. */
export class IncomingFile {
  size = 0;
  private readonly hash: Hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private constructor(
    readonly path: string,
    private readonly fh: fs.FileHandle,
  ) {}

  /** Creates a fresh temp file in dir (exclusive create, so two parts never share one). */
  static async create(dir: string): Promise<IncomingFile> {
    const p = path.join(dir, `${Date.now()}-${randomBytes(8).toString('hex')}.part`);
    return new IncomingFile(p, await fs.open(p, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o640));
  }

  /** Appends bytes (awaiting the write is what gives the request stream its back-pressure). */
  async write(data: Buffer): Promise<void> {
    this.hash.update(data);
    this.size += data.length;
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes >= WRITE_BLOCK) await this.flushPending();
  }

  private async flushPending(): Promise<void> {
    if (this.pendingBytes === 0) return;
    let block = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    // A nearly full disk can take part of a write without an error: write the rest until it fails for real (ENOSPC).
    while (block.length > 0) {
      const { bytesWritten } = await this.fh.write(block);
      if (bytesWritten === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      block = block.subarray(bytesWritten);
    }
  }

  /** Flushes to stable storage and closes; returns the content hash. */
  async finish(): Promise<string> {
    await this.flushPending();
    await this.fh.sync();
    await this.fh.close();
    return this.hash.digest('hex');
  }

  /** Closes (if open) and removes the temp file. */
  async discard(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await fs.rm(this.path, { force: true });
  }
}

export async function syncDir(dir: string): Promise<void> {
  const dh = await fs.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** The spool's name for a UID: a hash, so no raw UID (an identifier of a patient's study) is ever a path on disk. */
export function spoolKey(uid: string): string {
  return createHash('sha256').update(uid).digest('hex').slice(0, 32);
}

/** A file found in the spool (incoming temp files excluded). */
export interface SpoolFile {
  path: string;
  size: number;
  mtimeMs: number;
}

/**
 * The spool: received instances on local disk, one folder per study named by {@link spoolKey} of its UID, file names
 * content-addressed (<spoolKey(SOPInstanceUID)>.<sha256 prefix>.dcm) so a re-sent instance never overwrites
 * different bytes. Rows in the database hold each file's absolute path; {@link SpoolSweeper} removes what is no
 * longer needed.
 */
export class Spool {
  readonly incomingDir: string;
  constructor(readonly root: string) {
    this.incomingDir = path.join(root, '.incoming');
  }

  /** Creates the folders and removes temp files left by a crash (they were never acknowledged). */
  async init(): Promise<number> {
    await fs.mkdir(this.incomingDir, { recursive: true });
    const leftovers = await fs.readdir(this.incomingDir);
    await Promise.all(leftovers.map((f) => fs.rm(path.join(this.incomingDir, f), { force: true })));
    return leftovers.length;
  }

  /** Starts receiving a part. */
  incoming(): Promise<IncomingFile> {
    return IncomingFile.create(this.incomingDir);
  }

  /** Where an instance with this content lives. UIDs are validated first (they name the files, hashed). */
  instancePath(studyUid: string, sopInstanceUid: string, sha256: string): string {
    return Spool.pathIn(this.root, studyUid, sopInstanceUid, sha256);
  }

  /** The same, under another spool root (a legacy file is re-laid out where it lies: replicas share one volume). */
  static pathIn(root: string, studyUid: string, sopInstanceUid: string, sha256: string): string {
    if (!isValidUid(studyUid) || !isValidUid(sopInstanceUid)) throw LtError.invalid('invalid UID used as a path component');
    return path.join(root, spoolKey(studyUid), `${spoolKey(sopInstanceUid)}.${sha256.slice(0, 16)}.dcm`);
  }

  /** Every file in the spool, without the incoming temp files. */
  async files(): Promise<SpoolFile[]> {
    const out: SpoolFile[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (p !== this.incomingDir) await walk(p);
        } else if (e.isFile()) {
          const st = await fs.stat(p).catch(() => undefined);
          if (st) out.push({ path: p, size: st.size, mtimeMs: st.mtimeMs });
        }
      }
    };
    await walk(this.root);
    return out;
  }

  /** Removes files, then their folders where they are left empty (a folder still receiving keeps its files). */
  async remove(paths: string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const p of paths) {
      await fs.rm(p, { force: true });
      dirs.add(path.dirname(p));
    }
    for (const dir of dirs) {
      if (dir === this.root || dir === this.incomingDir) continue;
      this.knownDirs.delete(dir);
      await fs.rmdir(dir).catch(() => undefined);
    }
  }

  private readonly knownDirs = new Set<string>();
  private readonly dirSyncs = new Map<string, { running: Promise<void>; next?: Promise<void> }>();

  /** Moves a finished temp file into place atomically and makes the rename itself durable (directory fsync). */
  async commit(tmpPath: string, finalPath: string): Promise<void> {
    const dir = path.dirname(finalPath);
    if (!this.knownDirs.has(dir)) {
      await fs.mkdir(dir, { recursive: true });
      await syncDir(path.dirname(dir));
      this.knownDirs.add(dir);
    }
    try {
      await fs.rename(tmpPath, finalPath);
    } catch (e) {
      // The sweeper removed the study's emptied folder after we last saw it: make it again, once.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await fs.mkdir(dir, { recursive: true });
      await syncDir(path.dirname(dir));
      await fs.rename(tmpPath, finalPath);
    }
    await this.syncDirCoalesced(dir);
  }

  /**
   * fsyncs a directory so earlier renames into it are durable. Concurrent callers share syncs: a sync started
   * after your rename covers it, so at most one sync runs and one waits per directory.
   */
  private syncDirCoalesced(dir: string): Promise<void> {
    const state = this.dirSyncs.get(dir);
    if (!state) {
      const running = syncDir(dir).finally(() => this.advance(dir));
      this.dirSyncs.set(dir, { running });
      return running;
    }
    state.next ??= state.running.then(
      () => syncDir(dir),
      () => syncDir(dir),
    );
    return state.next;
  }

  private advance(dir: string): void {
    const state = this.dirSyncs.get(dir);
    if (!state?.next) {
      this.dirSyncs.delete(dir);
      return;
    }
    const running = state.next.finally(() => this.advance(dir));
    this.dirSyncs.set(dir, { running });
  }

  /** True when a small file can be created and synced in the spool (for /readyz). */
  async writable(): Promise<boolean> {
    let f: IncomingFile | undefined;
    try {
      f = await this.incoming();
      await f.write(Buffer.from('ok'));
      await f.finish();
      await fs.rm(f.path, { force: true });
      return true;
    } catch {
      // discard() also closes the handle, which a failed finish() leaves open (a full disk kept it busy).
      await f?.discard();
      return false;
    }
  }
}
