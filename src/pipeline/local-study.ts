import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { Writable, type Readable } from 'node:stream';
import type { DataSource } from 'typeorm';
import { acceptInstanceFile } from '../ingest/accept';
import type { InstanceRecorder } from '../ingest/instance-store';
import type { Spool } from '../ingest/spool';
import type { PartOutcome } from '../ingest/stow-response';
import { LtError } from '../errors';

import yauzl, { type Entry, type ZipFile } from 'yauzl';

/** What importing local files found. */
export interface LocalImport {
  files: number;
  stored: PartOutcome[];
  skipped: { file: string; reason: string }[];
  studies: string[];
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

/** Streams one source into the spool and accepts it like any received instance. */
async function importOne(deps: { spool: Spool; recorder: InstanceRecorder }, source: Readable, name: string, out: LocalImport): Promise<void> {
  const incoming = await deps.spool.incoming();
  try {
    await streamPipeline(
      source,
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          incoming.write(chunk).then(() => cb(), cb);
        },
      }),
    );
  } catch (e) {
    await incoming.discard();
    out.skipped.push({ file: name, reason: `read failed: ${(e as Error).message}` });
    return;
  }
  const sha256 = await incoming.finish();
  const o = await acceptInstanceFile(deps, { path: incoming.path, size: incoming.size, sha256 }, { actor: 'local', source: 'local' });
  if (o.failureReason !== undefined) out.skipped.push({ file: name, reason: o.message ?? `failure 0x${o.failureReason.toString(16)}` });
  else out.stored.push(o);
}

/**
 * Imports a folder (recursively) or a .zip of DICOM files through the same checks as STOW-RS. Files that are not
 * DICOM (DICOMDIR aside, README files, thumbnails) are skipped with the reason.
 */
export async function importLocal(deps: { dataSource: DataSource; spool: Spool; recorder: InstanceRecorder }, input: string, onFile?: () => void): Promise<LocalImport> {
  const out: LocalImport = { files: 0, stored: [], skipped: [], studies: [] };
  const stat = await fs.stat(input).catch(() => undefined);
  if (!stat) throw LtError.invalid(`${input} does not exist`);
  if (stat.isDirectory()) {
    for await (const f of walk(input)) {
      out.files++;
      await importOne(deps, createReadStream(f), path.relative(input, f), out);
      onFile?.();
    }
  } else if (input.toLowerCase().endsWith('.zip')) {
    const zip = await new Promise<ZipFile>((resolve, reject) =>
      yauzl.open(input, { lazyEntries: true, autoClose: true }, (err, z) => (err || !z ? reject(err ?? new Error('bad zip')) : resolve(z))),
    );
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', resolve);
      zip.on('entry', (entry: Entry) => {
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        zip.openReadStream(entry, (err, stream) => {
          if (err || !stream) return reject(err ?? new Error('zip entry unreadable'));
          out.files++;
          importOne(deps, stream, entry.fileName, out).then(() => {
            onFile?.();
            zip.readEntry();
          }, reject);
        });
      });
      zip.readEntry();
    });
  } else {
    throw LtError.invalid(`${input} is neither a folder nor a .zip file`);
  }
  out.studies = [...new Set(out.stored.map((o) => o.studyUid!))];
  return out;
}

/** Counts files under a folder (for a progress bar's total); zips are counted as they are read. */
export async function countFiles(input: string): Promise<number | undefined> {
  const stat = await fs.stat(input).catch(() => undefined);
  if (!stat?.isDirectory()) return undefined;
  let n = 0;
  for await (const _ of walk(input)) n++;
  return n;
}
