import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { log, studyTag } from '../logger';
import { metrics } from '../metrics';
import { legacySpoolRows, markStudyPurged, moveSpoolRow, purgeableStudies, referencedSpoolPaths } from './instance-store';
import { Spool, syncDir } from './spool';

/** How often the gateway sweeps the spool. */
export const SPOOL_SWEEP_INTERVAL_MS = 60_000;

/** The actor of retention's audit rows. */
const ACTOR = 'system:spool-retention';

/** What one sweep did. */
export interface SweepResult {
  studies: number;
  files: number;
  orphans: number;
  bytes: number;
}

/**
 * Keeps the spool bounded. A study's files are removed `retainSeconds` after its job was delivered or failed for
 * good, and any study's once it was last received `maxAgeHours` ago, but never while a job still needs them (the
 * database decides, under the study's row lock, so replicas sharing one volume never race). Files no row needs
 * (left by a crash between the move into place and the record, or before the deletion) go once older than
 * `maxAgeHours`. Each sweep also sets the spool's size and oldest-file gauges.
 */
export class SpoolSweeper {
  constructor(
    private readonly dataSource: DataSource,
    private readonly spool: Spool,
    private readonly opts: { retainSeconds: number; maxAgeHours: number },
  ) {}

  async sweep(): Promise<SweepResult> {
    const result: SweepResult = { studies: 0, files: 0, orphans: 0, bytes: 0 };
    for (;;) {
      const due = await purgeableStudies(this.dataSource, this.opts.retainSeconds, this.opts.maxAgeHours);
      let purged = 0;
      for (const { studyUid, reason } of due) {
        const { paths, bytes } = await markStudyPurged(this.dataSource, studyUid, reason, ACTOR);
        if (paths.length === 0) continue;
        await this.spool.remove(paths);
        metrics.spoolPurged.inc({ reason }, paths.length);
        log.info('spool files removed', { study: studyTag(studyUid), reason, files: paths.length, bytes });
        result.studies++;
        result.files += paths.length;
        result.bytes += bytes;
        purged++;
      }
      if (purged === 0) break;
    }
    const files = await this.spool.files();
    const cutoff = Date.now() - this.opts.maxAgeHours * 3_600_000;
    const old = files.filter((f) => f.mtimeMs < cutoff).map((f) => f.path);
    const needed = await referencedSpoolPaths(this.dataSource, old);
    const orphans = old.filter((p) => !needed.has(p));
    if (orphans.length > 0) {
      await this.spool.remove(orphans);
      metrics.spoolPurged.inc({ reason: 'orphan' }, orphans.length);
      log.warn('unreferenced spool files removed', { files: orphans.length });
      result.orphans = orphans.length;
    }
    const removed = new Set(orphans);
    const kept = files.filter((f) => !removed.has(f.path));
    metrics.spoolBytes.set(kept.reduce((sum, f) => sum + f.size, 0));
    metrics.spoolOldestFileAge.set(kept.length > 0 ? (Date.now() - Math.min(...kept.map((f) => f.mtimeMs))) / 1000 : 0);
    return result;
  }

  /**
   * Moves files recorded under the old layout (folders named by the raw Study Instance UID) to their hashed names,
   * where they lie: hard link, record the new path, then unlink the old one, so a crash at any point leaves the
   * row pointing at a file that exists. Run at start-up; returns how many files moved.
   */
  async relayoutLegacy(): Promise<number> {
    let moved = 0;
    for (;;) {
      const rows = await legacySpoolRows(this.dataSource);
      const before = moved;
      const oldDirs = new Set<string>();
      for (const row of rows) {
        const root = path.dirname(path.dirname(row.spoolPath));
        const target = Spool.pathIn(root, row.studyUid, row.sopInstanceUid, row.sha256);
        await fs.mkdir(path.dirname(target), { recursive: true });
        try {
          await fs.link(row.spoolPath, target);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          // EEXIST: linked before a crash (content-addressed, so the same bytes). ENOENT: moved, row not updated.
          if (code === 'ENOENT' && !(await exists(target))) {
            log.error('a recorded spool file is missing', { study: studyTag(row.studyUid) });
            continue;
          }
          if (code !== 'EEXIST' && code !== 'ENOENT') throw e;
        }
        await syncDir(path.dirname(target));
        await syncDir(root);
        await moveSpoolRow(this.dataSource, row, target);
        await fs.rm(row.spoolPath, { force: true });
        oldDirs.add(path.dirname(row.spoolPath));
        moved++;
      }
      for (const dir of oldDirs) await fs.rmdir(dir).catch(() => undefined);
      if (moved === before) break;
    }
    if (moved > 0) log.info('spool files moved from raw-UID folders to hashed names', { files: moved });
    return moved;
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}
