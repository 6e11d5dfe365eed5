import { audit } from '../audit/audit-log';
import { Tags, tagKey } from '../dicom/tags';
import { log, studyTag } from '../logger';
import { metrics } from '../metrics';
import { describePacsError, pacsClient, requestPull, type PullDeps } from './pull';

/** The actor of reconciliation's pulls and audit rows. */
const ACTOR = 'system:reconcile';

/** Time limit of each QIDO-RS request of a pass. */
const QUERY_TIMEOUT_MS = 30_000;

/** Most studies one pass lists from the PACS. */
const STUDIES_PER_PASS = 1000;

/** Only one gateway reconciles at a time (replicas share the database): a session advisory lock. */
const RECONCILE_LOCK_KEY = 7_245_016;

/** What reconciliation looks for: studies of the look-back window, of a modality, optionally of a body part. */
export interface ReconcileOptions {
  lookbackHours: number;
  modality: string;
  bodyPart?: string;
  /** Manufacturer (0008,0070) of our result objects: a study holding such an SR series was analysed elsewhere. */
  ourManufacturer: string;
}

/** What one pass found. */
export interface ReconcileResult {
  listed: number;
  /** Studies whose pull was recorded (the Puller retrieves them; `study.recovered` when each one's job opens). */
  recovered: number;
  failed: number;
}

const text = (item: Record<string, { Value?: unknown[] }>, tag: string): string | undefined => {
  const v = item[tag]?.Value?.[0];
  return typeof v === 'string' ? v : undefined;
};

/** StudyDate range (DA, local days) covering the last `hours`. */
export function studyDateRange(hours: number, now = new Date()): string {
  const da = (d: Date) => `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}`;
  return `${da(new Date(now.getTime() - hours * 3_600_000))}-${da(now)}`;
}

/**
 * Reconciliation with the PACS: studies the PACS holds that never reached us (a forward lost while the gateway
 * was down, an auto-routing rule that missed them) are found by QIDO-RS (study date within the look-back window,
 * modality, body part) and their pull recorded (requestPull; the Puller retrieves them in the background and
 * resumes a pull a crash cut short), so no study is skipped silently. A study we already know (any job, receiving
 * or pulling) or that holds an SR series of ours is left alone, and one is pulled only once two passes saw the same
 * instance count (a study the PACS is still receiving would be pulled half). Each recovered study gets a
 * `study.recovered` triage event when its job opens; each pass that recovers something an audit row with the
 * counts. A PACS that does not answer fails the pass, which is logged and retried at the next period.
 */
export class Reconciler {
  /** Instance counts seen at the previous pass, by study UID (unknown ones only). */
  private seen = new Map<string, string>();

  constructor(
    private readonly deps: PullDeps,
    private readonly opts: ReconcileOptions,
  ) {}

  async once(): Promise<ReconcileResult> {
    const result: ReconcileResult = { listed: 0, recovered: 0, failed: 0 };
    if (!this.deps.pacs) return result;
    const runner = this.deps.dataSource.createQueryRunner();
    try {
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [RECONCILE_LOCK_KEY])) as { locked: boolean }[];
      if (!locked) return result;
      try {
        return await this.pass(result);
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [RECONCILE_LOCK_KEY]).catch(() => undefined);
      }
    } finally {
      await runner.release();
    }
  }

  private async pass(result: ReconcileResult): Promise<ReconcileResult> {
    const { deps, opts } = this;
    const client = await pacsClient(deps.pacs!, QUERY_TIMEOUT_MS);
    let studies;
    try {
      studies = await client.searchForStudies({
        queryParams: { StudyDate: studyDateRange(opts.lookbackHours), ModalitiesInStudy: opts.modality, includefield: tagKey(Tags.NumberOfStudyRelatedInstances), limit: String(STUDIES_PER_PASS) },
      });
    } catch (e) {
      metrics.reconcilePasses.inc({ outcome: 'pacs_unavailable' });
      log.warn('reconciliation: the PACS did not answer the study query; retrying next period', { reason: describePacsError(e) });
      return result;
    }
    const listed = new Map<string, string>();
    for (const s of studies) {
      const uid = text(s, tagKey(Tags.StudyInstanceUID));
      if (uid) listed.set(uid, String(s[tagKey(Tags.NumberOfStudyRelatedInstances)]?.Value?.[0] ?? '?'));
    }
    result.listed = listed.size;
    const known = new Set(
      ((await deps.dataSource.query(`SELECT study_uid FROM study WHERE study_uid = ANY($1)`, [[...listed.keys()]])) as { study_uid: string }[]).map((r) => r.study_uid),
    );
    const previous = this.seen;
    this.seen = new Map();
    for (const [uid, count] of listed) {
      if (known.has(uid)) continue;
      if (previous.get(uid) !== count) {
        this.seen.set(uid, count); // first seen, or still growing: look again next period
        continue;
      }
      try {
        if (!(await wanted(client, uid, opts))) continue;
        const { expected } = await requestPull({ ...deps, timeoutMs: QUERY_TIMEOUT_MS }, uid, ACTOR, 'reconcile');
        log.info('reconciliation: study the gateway never received is being pulled from the PACS', { study: studyTag(uid), instances: expected });
        result.recovered++;
      } catch (e) {
        this.seen.set(uid, count);
        result.failed++;
        log.warn('reconciliation: study could not be pulled; retrying next period', { study: studyTag(uid), reason: describePacsError(e) });
      }
    }
    metrics.reconcilePasses.inc({ outcome: result.failed > 0 ? 'partial' : 'ok' });
    if (result.recovered + result.failed > 0)
      await audit(deps.dataSource, { actor: ACTOR, action: 'reconcile.pass', outcome: result.failed > 0 ? 'warning' : 'success', objectUids: [], detail: { ...result } });
    return result;
  }
}

/** True when a study not known here should be pulled: its series match the body-part filter and none is our SR. */
async function wanted(client: Awaited<ReturnType<typeof pacsClient>>, studyUid: string, opts: ReconcileOptions): Promise<boolean> {
  const series = await client.searchForSeries({ studyInstanceUID: studyUid, queryParams: { includefield: `${tagKey(Tags.Manufacturer)},${tagKey(Tags.BodyPartExamined)}` } });
  const ours = series.some((s) => text(s, tagKey(Tags.Modality)) === 'SR' && text(s, tagKey(Tags.Manufacturer)) === opts.ourManufacturer);
  if (ours) return false;
  if (!opts.bodyPart) return true;
  const want = opts.bodyPart.toUpperCase();
  return series.some((s) => text(s, tagKey(Tags.Modality)) === opts.modality && (text(s, tagKey(Tags.BodyPartExamined)) ?? '').toUpperCase() === want);
}
