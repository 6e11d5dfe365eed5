/** Results stage: the SR, summary page, infection SEG, heat maps and key-object selection of one study (see build-results.ts). */
export { buildResults, failureReport, type BuildResultsInput, type ExaminedInstance } from './build-results';
export { algorithmOf, modelKey, resultUids, SERIES_NUMBER, SERIES_NUMBER_OFFSET, resultSeriesNumbers } from './result-set';
export type { ResultObject, ResultObjects, ResultSummary, Supersedes } from './result-set';
export { NOT_REVIEWED } from './sr-document';
export { triagePriority, URGENT_PROBABILITY, type TriagePriority } from './priority';
export { studyContextFromDataset, type StudyContext } from './study-context';
export { DCM, LT, SCT, OTHER, PRIVATE_SCHEME } from './codes';
export { renderHeatMap, colormap, mapValueAt, heatMapScale, DISCLAIMER } from './heatmap';
export { laterality, lesionBurden, selectKeySlices, type Laterality } from './analysis-summary';
