/**
 * The one wire mapping (src/inference/wire.ts): an Analysis the worker answers with, serialised by the real
 * protobuf codec of the contract and read back by the client's side of the mapping, is the same Analysis; the
 * volume header and the ListModels answer likewise. Pure: no model, no server.
 */
import type { AnalyzeResponse__Output } from '../../src/generated/lungtriage/inference/v1/AnalyzeResponse';
import type { ListModelsResponse__Output } from '../../src/generated/lungtriage/inference/v1/ListModelsResponse';
import type { VolumeHeader__Output } from '../../src/generated/lungtriage/inference/v1/VolumeHeader';
import { packageDefinition } from '../../src/inference/proto';
import type { Analysis } from '../../src/inference/types';
import { analysisToResponse, geometryFromHeader, listModelsResponse, responseToAnalysis, volumeHeaderOf, workerModelsFromWire } from '../../src/inference/wire';
import { syntheticStudy } from '../results/fixtures';

const service = packageDefinition['lungtriage.inference.v1.InferenceService'] as unknown as Record<
  string,
  { requestSerialize(v: unknown): Buffer; requestDeserialize(b: Buffer): unknown; responseSerialize(v: unknown): Buffer; responseDeserialize(b: Buffer): unknown }
>;
const system = { systemName: 'MLung-Sys', systemVersion: '2.0.0', patientKind: 'attention-mil' };

/** The fixture's analysis with its float (32-bit) fields as the engine gives them (Math.fround), 3 slices from its cache. */
function engineAnalysis(): Analysis {
  const a = syntheticStudy({ size: 64, slices: 8 }).analysis;
  return {
    ...a,
    slicesReused: 3,
    slices: a.slices.map((s) => ({
      ...s,
      lesionProbability: Math.fround(s.lesionProbability),
      classProbabilities: s.classProbabilities.map(Math.fround),
      lesionTypeProbabilities: s.lesionTypeProbabilities.map(Math.fround),
      infectionProbability: Math.fround(s.infectionProbability),
    })),
    patient: { ...a.patient, classProbabilities: a.patient.classProbabilities.map(Math.fround), positiveProbability: Math.fround(a.patient.positiveProbability) },
  };
}

describe('the inference wire mapping', () => {
  test('Analysis -> AnalyzeResponse -> protobuf bytes -> AnalyzeResponse -> the same Analysis', () => {
    const a = engineAnalysis();
    const bytes = service.Analyze.responseSerialize(analysisToResponse(a, { ...system, contentHash: 'c'.repeat(64) }));
    const back = service.Analyze.responseDeserialize(bytes) as AnalyzeResponse__Output;
    expect(back.models.find((m) => m.role === 'patient')?.kind).toBe('attention-mil');
    expect(back.contentHash).toBe('c'.repeat(64));
    expect(responseToAnalysis(back)).toEqual(a);
  });

  test('the volume header the client sends gives the worker the geometry of the volume', () => {
    const { volume } = syntheticStudy({ size: 64, slices: 8 });
    const bytes = service.Analyze.requestSerialize({ header: volumeHeaderOf(volume) });
    const h = (service.Analyze.requestDeserialize(bytes) as { header: VolumeHeader__Output }).header;
    expect(h).toMatchObject({ studyId: volume.studyUid, seriesId: volume.seriesUid, contentHash: volume.contentHash });
    expect(geometryFromHeader(h)).toEqual({
      rows: 64,
      columns: 64,
      slices: 8,
      pixelSpacingMm: volume.pixelSpacing,
      slicePositionsMm: volume.sources.map((s) => s.position),
    });
  });

  test('ListModels: what the worker says is what the client reports', () => {
    const a = engineAnalysis();
    const sent = listModelsResponse(
      { models: a.models, executionProvider: 'cpu', maxConcurrent: 2, maxSlices: 2000, activeCalls: 1, classes: a.classes, lesionTypes: a.lesionTypes },
      system,
    );
    const back = service.ListModels.responseDeserialize(service.ListModels.responseSerialize(sent)) as ListModelsResponse__Output;
    expect(workerModelsFromWire('127.0.0.1:50051', back)).toEqual({
      address: '127.0.0.1:50051',
      executionProvider: 'cpu',
      systemName: 'MLung-Sys',
      systemVersion: '2.0.0',
      models: a.models.map((m) => ({ ...m, kind: m.role === 'patient' ? 'attention-mil' : '' })),
      maxConcurrent: 2,
      maxSlices: 2000,
      activeCalls: 1,
      classes: a.classes,
      lesionTypes: a.lesionTypes,
    });
  });
});
