/** Results stage: the SR, heat maps and key-object selection for one study (see build.ts). */
export { buildResults, failureReport, algorithmOf, modelKey, resultUids, NOT_REVIEWED, SERIES_NUMBER, SERIES_NUMBER_OFFSET, resultSeriesNumbers } from './build';
export type { BuildResultsInput, ExaminedInstance, ResultObject, ResultObjects, ResultSummary, Supersedes } from './build';
export { triagePriority, URGENT_PROBABILITY, type TriagePriority } from './priority';
export { studyContextFromDataset, type StudyContext } from './study-context';
export { DCM, LT, SCT, OTHER, PRIVATE_SCHEME } from './codes';
export { renderHeatMap, colormap, mapValueAt, heatMapScale, DISCLAIMER } from './heatmap';
export { laterality, lesionBurden, selectKeySlices, type Laterality } from './analysis-summary';
