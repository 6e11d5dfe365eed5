import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { audit } from '../audit/audit-log';
import { isValidUid } from '../dicom/uid';
import { LtError } from '../errors';
import { actorOf } from './stow-handler';

/**
 * WADO-RS retrieve (PS3.18 10.4) of what we received, so the RetrieveURLs in our STOW responses resolve:
 * a study, a series or one instance as multipart/related; type="application/dicom".
 */
export function createWadoHandler(ds: DataSource) {
  return async function wado(req: Request, res: Response): Promise<void> {
    const { study, series, instance } = req.params as Record<string, string | undefined>;
    for (const uid of [study, series, instance]) if (uid !== undefined && !isValidUid(uid)) throw LtError.invalid('invalid UID in the URL');
    const rows = (await ds.query(
      `SELECT spool_path FROM instance WHERE study_uid = $1 AND ($2::text IS NULL OR series_uid = $2) AND ($3::text IS NULL OR sop_instance_uid = $3)
       ORDER BY series_uid, sop_instance_uid`,
      [study, series ?? null, instance ?? null],
    )) as { spool_path: string }[];
    if (rows.length === 0) throw LtError.notFound('no such study, series or instance');
    // Who read what, before a byte leaves: a read that cannot be recorded is not served.
    await audit(ds, {
      actor: actorOf(req, res),
      action: 'instances.retrieved',
      outcome: 'success',
      studyUid: study,
      objectUids: [series, instance].filter((u): u is string => u !== undefined),
      detail: { level: instance ? 'instance' : series ? 'series' : 'study', instances: rows.length },
    });
    const boundary = randomBytes(12).toString('hex');
    res.status(200).setHeader('Content-Type', `multipart/related; type="application/dicom"; boundary=${boundary}`);
    for (const r of rows) {
      res.write(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
      await new Promise<void>((resolve, reject) => {
        const s = createReadStream(r.spool_path);
        s.on('error', reject);
        s.on('end', resolve);
        s.pipe(res, { end: false });
      });
      res.write('\r\n');
    }
    res.end(`--${boundary}--\r\n`);
  };
}
