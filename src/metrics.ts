import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The process's Prometheus registry. Labels carry outcomes and reasons only, never identifiers or PHI. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'lt_' });

export const metrics = {
  stowRequests: new Counter({ name: 'lt_stow_requests_total', help: 'STOW-RS requests by HTTP status', labelNames: ['status'], registers: [registry] }),
  instancesReceived: new Counter({
    name: 'lt_instances_received_total',
    help: 'Instances received by outcome (stored, duplicate, conflict, failed)',
    labelNames: ['outcome'],
    registers: [registry],
  }),
  bytesReceived: new Counter({ name: 'lt_bytes_received_total', help: 'Bytes of DICOM instances received', registers: [registry] }),
  failures: new Counter({
    name: 'lt_instance_failures_total',
    help: 'Rejected instances by DICOM failure reason (hex)',
    labelNames: ['reason'],
    registers: [registry],
  }),
  dimseAssociations: new Counter({
    name: 'lt_dimse_associations_total',
    help: 'DIMSE associations by outcome (accepted, rejected)',
    labelNames: ['outcome'],
    registers: [registry],
  }),
  stowSeconds: new Histogram({
    name: 'lt_stow_request_seconds',
    help: 'STOW-RS request duration',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  }),
  studiesReady: new Counter({ name: 'lt_studies_ready_total', help: 'Studies that became complete (quiet period passed, PACS count matched, pull ended)', registers: [registry] }),
  pacsCompletenessChecks: new Counter({
    name: 'lt_pacs_completeness_checks_total',
    help: 'Completeness checks against the PACS count at the end of a request or association, by outcome (complete opened the job; the others leave it to the quiet period)',
    labelNames: ['outcome'],
    registers: [registry],
  }),
  queueDepth: new Gauge({ name: 'lt_queue_depth', help: 'Jobs not yet finished, by state', labelNames: ['state'], registers: [registry] }),
  earlyInference: new Counter({
    name: 'lt_early_inference_total',
    help: 'Analyses started during a quiet period, and those a job then used',
    labelNames: ['outcome'],
    registers: [registry],
  }),
  authFailures: new Counter({
    name: 'lt_auth_failures_total',
    help: 'Refused calls by surface (dicomweb, grpc) and outcome (unauthenticated, forbidden)',
    labelNames: ['surface', 'outcome'],
    registers: [registry],
  }),
  rateLimited: new Counter({
    name: 'lt_rate_limited_total',
    help: 'Requests refused for exceeding the per-caller rate (LT_RATE_LIMIT_PER_SECOND), by surface (dicomweb, grpc, dimse)',
    labelNames: ['surface'],
    registers: [registry],
  }),
  jobsFinished: new Counter({ name: 'lt_jobs_finished_total', help: 'Jobs finished by final state', labelNames: ['state'], registers: [registry] }),
  spoolBytes: new Gauge({ name: 'lt_spool_bytes', help: 'Bytes of received instances in the spool', registers: [registry] }),
  spoolOldestFileAge: new Gauge({
    name: 'lt_spool_oldest_file_age_seconds',
    help: 'Age of the oldest file in the spool (0 when empty)',
    registers: [registry],
  }),
  spoolPurged: new Counter({
    name: 'lt_spool_purged_files_total',
    help: 'Spool files removed by retention, by reason (retained, max_age, orphan)',
    labelNames: ['reason'],
    registers: [registry],
  }),
  reconcilePasses: new Counter({
    name: 'lt_reconcile_passes_total',
    help: 'Reconciliation passes against the PACS by outcome (ok, partial, pacs_unavailable)',
    labelNames: ['outcome'],
    registers: [registry],
  }),
  studiesRecovered: new Counter({
    name: 'lt_studies_recovered_total',
    help: 'Studies the PACS held that never reached the gateway, pulled by reconciliation',
    registers: [registry],
  }),
  stageSeconds: new Histogram({
    name: 'lt_stage_seconds',
    help: 'Pipeline stage durations',
    labelNames: ['stage'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  }),
};
