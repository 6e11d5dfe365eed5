import type { DataSource } from 'typeorm';
import { LtError } from '../errors';
import { recordedHeaders } from '../ingest/instance-store';
import { buildVolume, type HuVolume, type InstanceHeader } from '../volume';
import { selectSeries, type SelectionRules } from '../study/series-selection';

/** How every gating reason (header or image) begins: the study is not a chest CT the model covers. */
export const NOT_APPLICABLE = 'not applicable:';

/** A stage failed for a reason that retrying cannot fix (bad data, nothing to analyse). */
export class PermanentFailure extends Error {
  constructor(
    readonly stage: string,
    reason: string,
    readonly details: string[] = [],
  ) {
    super(reason);
  }
}

/** The series chosen from a study and its volume, with why the other series were not used. */
export interface StudyVolume {
  volume: HuVolume;
  /** The chosen series' readable instances. */
  chosen: InstanceHeader[];
  rejections: string[];
  reason: string;
  /** The largest Series Number among the study's instances (results are numbered after it), when any has one. */
  maxSeriesNumber?: number;
}

/** The study's largest Series Number, as a partial StudyVolume (empty when no header has one). */
export function maxSeriesNumber(headers: InstanceHeader[]): { maxSeriesNumber?: number } {
  const numbers = headers.map((h) => h.seriesNumber).filter((n): n is number => Number.isFinite(n));
  return numbers.length > 0 ? { maxSeriesNumber: Math.max(...numbers) } : {};
}

/**
 * Chooses the series to triage from the study's received instances (the headers ingest recorded) and builds its
 * volume. Throws PermanentFailure when no series qualifies or the chosen one cannot be built.
 */
export async function studyVolume(dataSource: DataSource, studyUid: string, selection: Partial<SelectionRules> = {}, maxSlices?: number): Promise<StudyVolume> {
  const headers = await recordedHeaders(dataSource, studyUid);
  const picked = selectSeries(headers, { ...selection, ...(maxSlices ? { maxSlices } : {}) });
  const rejections = picked.rejected.map((r) => `series ${r.seriesNumber ?? '?'} (${r.modality ?? '?'}, ${r.instances} instances): ${r.reason}`);
  const pick = picked.chosen;
  if (!pick) {
    // A series the header places outside the chest, or a study with no CT at all (a PDF, a foreign SR), is "not
    // applicable" rather than a failure: nothing for the model to look at, nothing to report into the PACS.
    const gated = picked.rejected.find((r) => r.reason.startsWith(NOT_APPLICABLE));
    const modalities = [...new Set(picked.rejected.map((r) => r.modality))];
    const noCt = modalities.length > 0 && modalities.every((m) => m !== undefined && m !== 'CT');
    const reason = gated
      ? `${gated.reason} (series ${gated.seriesNumber ?? '?'})`
      : noCt
        ? `${NOT_APPLICABLE} the study holds no CT series (${modalities.join(', ')})`
        : 'no series qualifies for lung triage';
    throw new PermanentFailure('series-selection', reason, rejections);
  }
  const chosen = headers.filter((h) => h.seriesUid === pick.seriesUid && !h.error);
  try {
    const volume = await buildVolume(chosen, maxSlices ? { maxSlices } : {});
    return { volume, chosen, rejections, reason: pick.reason, ...maxSeriesNumber(headers) };
  } catch (e) {
    if (e instanceof LtError) throw new PermanentFailure('volume', e.message, rejections);
    throw e;
  }
}
