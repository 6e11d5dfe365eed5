import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { audit } from '../audit/audit-log';
import { isValidUid } from '../dicom/uid';
import { LtError } from '../errors';
import { actorOf } from './stow-handler';

/**
 * WADO-RS retrieve (PS3.18 10.4) of what we received, so the RetrieveURLs in our STOW responses resolve:
 * a study, a series or one instance as multipart/related; type="application/dicom". What retention removed is
 * left out, and when nothing is left the answer is 410 Gone.
 */
export function createWadoHandler(dataSource: DataSource) {
  return async function wado(req: Request, res: Response): Promise<void> {
    const { study, series, instance } = req.params as Record<string, string | undefined>;
    for (const uid of [study, series, instance]) if (uid !== undefined && !isValidUid(uid)) throw LtError.invalid('invalid UID in the URL');
    const rows = (await dataSource.query(
      `SELECT spool_path, purged_at IS NOT NULL AS purged FROM instance
        WHERE study_uid = $1 AND ($2::text IS NULL OR series_uid = $2) AND ($3::text IS NULL OR sop_instance_uid = $3)
        ORDER BY series_uid, sop_instance_uid`,
      [study, series ?? null, instance ?? null],
    )) as { spool_path: string; purged: boolean }[];
    if (rows.length === 0) throw LtError.notFound('no such study, series or instance');
    const held = rows.filter((r) => !r.purged);
    if (held.length === 0) throw LtError.gone('received, then removed from the spool by retention (LT_SPOOL_RETAIN_SECONDS, LT_SPOOL_MAX_AGE_HOURS): retrieve it from the PACS');
    // Who read what, before a byte leaves: a read that cannot be recorded is not served.
    await audit(dataSource, {
      actor: actorOf(req, res),
      action: 'instances.retrieved',
      outcome: 'success',
      studyUid: study,
      objectUids: [series, instance].filter((u): u is string => u !== undefined),
      detail: { level: instance ? 'instance' : series ? 'series' : 'study', instances: rows.length },
    });
    const boundary = randomBytes(12).toString('hex');
    res.status(200).setHeader('Content-Type', `multipart/related; type="application/dicom"; boundary=${boundary}`);
    try {
      for (const r of held) {
        res.write(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`);
        // pipeline, unlike pipe, closes the file when the client goes away mid-download (it leaked one per abort).
        await pipeline(createReadStream(r.spool_path), res, { end: false });
        res.write('\r\n');
      }
    } catch (e) {
      if (res.destroyed) return; // the client went away: nothing left to answer
      throw e;
    }
    res.end(`--${boundary}--\r\n`);
  };
}
