import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { DataSource } from 'typeorm';
import { audit, readAudit, verifyAuditChain } from '../audit/audit-log';
import type { AuthFailureLog } from '../audit/auth-failures';
import type { Role } from '../config';
import { listStudiesWithLatestJob, studyWithLatestJob, triageEventsAfter, type JobAssessment, type StudyJobRow } from '../db/jobs';
import { isValidUid } from '../dicom/uid';
import { asLtError, isDatabaseUnavailable, LtError } from '../errors';
import type { ProtoGrpcType } from '../generated/triage';
import type { Study } from '../generated/lungtriage/triage/v1/Study';
import type { TriageEvent } from '../generated/lungtriage/triage/v1/TriageEvent';
import type { TriageServiceHandlers } from '../generated/lungtriage/triage/v1/TriageService';
import type { PatientAssessment } from '../generated/lungtriage/triage/v1/PatientAssessment';
import { serverCredentials, type TlsFiles } from '../grpc/credentials';
import { LOADER_OPTIONS, PROTO_DIR } from '../grpc/loader';
import { log } from '../logger';
import type { RateLimiter } from '../rate-limit';
import { namesAtLeast, PRIORITY, priorityName, type PriorityName } from '../triage-priority';
import { callerOf, requireRole, type Authenticator, type Principal } from './authenticator';

/** The loaded TriageService definition (same loader options as every other contract). */
const triageProto = (
  grpc.loadPackageDefinition(protoLoader.loadSync('lungtriage/triage/v1/triage.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] })) as unknown as ProtoGrpcType
).lungtriage.triage.v1;

/** A request's minimum priority as a rank on the one scale; 0 (PRIORITY_UNSPECIFIED or absent) filters nothing. */
const rankOf = (p: string | undefined): number => (p && p in PRIORITY ? PRIORITY[p as PriorityName] : 0);

/** What the service needs from the gateway. */
export interface TriageServiceDeps {
  dataSource: DataSource;
  /** Static tokens (LT_GRPC_AUTH_TOKENS) and OIDC JWTs, in the "authorization: Bearer" metadata. */
  auth: Authenticator;
  /** Counts refusals (one audit row per window); undefined: refusals are only answered. */
  authFailures?: AuthFailureLog;
  /** Calls per second per caller (undefined: no limit): RESOURCE_EXHAUSTED beyond. */
  rateLimiter?: RateLimiter;
  pollMs: number;
  /**
   * How long a WatchEvents stream keeps retrying an unreachable database (a restart, a fail-over) before it ends
   * with UNAVAILABLE, so the client reconnects with its last event id. Default 30 s.
   */
  databaseOutageMs?: number;
  /** Records a pull of a study from the PACS, which runs in the background (undefined when no PACS is configured). */
  submit?: (studyUid: string, actor: string) => Promise<{ expected: number }>;
}

function assessmentOf(a: JobAssessment | undefined): PatientAssessment | undefined {
  return a
    ? { label: a.label, positiveProbability: a.positiveProbability, threshold: a.threshold, decision: a.decision, classProbabilities: a.classProbabilities }
    : undefined;
}

function toStudy(r: StudyJobRow): Study {
  return {
    studyInstanceUid: r.study_uid,
    state: r.shown_state,
    instanceCount: r.instance_count,
    instancesExpected: r.pull_expected ?? 0,
    jobId: r.job_id ?? '0',
    priority: r.result?.priority ?? 'PRIORITY_UNSPECIFIED',
    assessment: assessmentOf(r.result?.assessment),
    error: r.error ?? '',
    receivedAt: r.first_received_at.toISOString(),
    updatedAt: (r.updated_at ?? r.first_received_at).toISOString(),
    stageSeconds: r.timings ?? {},
    resultSopInstanceUids: r.result?.resultUids ?? [],
    seriesInstanceUid: r.result?.seriesUid ?? '',
    modelVersion: r.result?.modelVersion ?? '',
  };
}

/** Turns any error into a gRPC status with a useful message (unknown errors are logged and answered INTERNAL). */
function toStatus(e: unknown): Partial<grpc.StatusObject> {
  const err = asLtError(e);
  if (!(e instanceof LtError)) log.error('TriageService call failed', { err: e });
  return { code: err.grpcCode, details: err.message };
}

/** Wraps a unary handler with authentication, the method's role and typed errors. */
function unary<Req, Res>(
  deps: TriageServiceDeps,
  method: string,
  role: Role,
  fn: (req: Req, actor: string) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    authorize(deps, call, method, role)
      .then((actor) => fn(call.request, actor))
      .then(
        (res) => callback(null, res),
        (e: unknown) => callback(toStatus(e)),
      );
  };
}

/**
 * Authenticates the call ("authorization: Bearer" metadata) and checks the method's role: UNAUTHENTICATED without
 * valid credentials, PERMISSION_DENIED without the role, RESOURCE_EXHAUSTED over the caller's rate; refusals are
 * counted, not audited one row each. Returns the actor.
 */
async function authorize(deps: TriageServiceDeps, call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, method: string, role: Role): Promise<string> {
  const peer = call.getPeer();
  let principal: Principal | undefined;
  try {
    const r = await deps.auth.authenticate(String(call.metadata.get('authorization')[0] ?? '') || undefined);
    if ('refused' in r) throw LtError.unauthenticated(`${r.refused}: a bearer token in the authorization metadata`);
    principal = r.principal;
    requireRole(principal, role);
  } catch (e) {
    const err = asLtError(e);
    if (err.grpcCode === grpc.status.UNAUTHENTICATED || err.grpcCode === grpc.status.PERMISSION_DENIED)
      deps.authFailures?.record({ surface: 'grpc', outcome: err.grpcCode === grpc.status.UNAUTHENTICATED ? 'unauthenticated' : 'forbidden', method, peer, principal: principal?.name });
    throw err;
  }
  // Per identity, or per address when authentication is off ("ipv4:127.0.0.1:53124" without its port).
  const wait = deps.rateLimiter?.take(callerOf(principal, peer.replace(/:\d+$/, ''))) ?? 0;
  if (wait > 0) throw LtError.tooManyRequests(`too many calls from this caller (LT_RATE_LIMIT_PER_SECOND); retry in ${wait} s`, wait);
  if (principal.name === 'anonymous') return `grpc@${peer}`;
  return `${principal.name === 'bearer' ? 'token' : principal.name}@${peer}`;
}

function requireUid(uid: string | undefined, field: string): string {
  if (!uid) throw LtError.invalid(`${field} is required`);
  if (!isValidUid(uid)) throw LtError.invalid(`${field} is not a valid DICOM UID`);
  return uid;
}

/** An id to read after (after_event_id, after_id): a non-negative integer, empty = from the start. */
function idAfter(v: string | undefined, field: string): number {
  const n = Number(v || 0);
  if (!Number.isSafeInteger(n) || n < 0) throw LtError.invalid(`${field} must be an id (a non-negative integer)`);
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseTime(v: string | undefined, field: string): Date | null {
  if (!v) return null;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw LtError.invalid(`${field} is not an RFC 3339 time`);
  return d;
}

/** The TriageService handlers over the database (exported for in-process use and tests). */
export function triageHandlers(deps: TriageServiceDeps): TriageServiceHandlers {
  const { dataSource } = deps;
  return {
    SubmitStudy: unary(deps, 'SubmitStudy', 'operator', async (req, actor) => {
      const uid = requireUid(req.studyInstanceUid, 'study_instance_uid');
      if (!deps.submit) throw LtError.conflict('no PACS is configured (LT_PACS_URL): studies can only be pushed');
      const { expected } = await deps.submit(uid, actor);
      return { studyInstanceUid: uid, jobId: '0', state: 'pulling', instancesRetrieved: 0, instancesExpected: expected };
    }),

    GetStudy: unary(deps, 'GetStudy', 'reader', async (req, actor) => {
      const uid = requireUid(req.studyInstanceUid, 'study_instance_uid');
      const row = await studyWithLatestJob(dataSource, uid);
      if (!row) throw LtError.notFound('no such study has been received');
      await audit(dataSource, { actor, action: 'study.read', outcome: 'success', studyUid: uid, detail: { method: 'GetStudy' } });
      return toStudy(row);
    }),

    ListStudies: unary(deps, 'ListStudies', 'reader', async (req) => {
      const size = Math.min(Math.max(req.pageSize || 50, 1), 500);
      const offset = req.pageToken ? Number(Buffer.from(req.pageToken, 'base64url').toString()) : 0;
      // Only what nextPageToken hands out: a safe integer offset ("1e308" is an integer too, but no page).
      if (!Number.isSafeInteger(offset) || offset < 0) throw LtError.invalid('page_token is not one this service issued');
      const minRank = rankOf(req.minPriority);
      const rows = await listStudiesWithLatestJob(dataSource, {
        state: req.state ?? '',
        priorities: minRank > 0 ? namesAtLeast(minRank) : undefined,
        receivedAfter: parseTime(req.receivedAfter, 'received_after'),
        receivedBefore: parseTime(req.receivedBefore, 'received_before'),
        limit: size + 1,
        offset,
      });
      const more = rows.length > size;
      return {
        studies: rows.slice(0, size).map(toStudy),
        nextPageToken: more ? Buffer.from(String(offset + size)).toString('base64url') : '',
      };
    }),

    WatchEvents: (call) => {
      const outageMs = deps.databaseOutageMs ?? 30_000;
      let stopped = false;
      call.on('cancelled', () => (stopped = true));
      call.on('close', () => (stopped = true));
      const loop = async () => {
        await authorize(deps, call, 'WatchEvents', 'reader');
        let cursor = idAfter(call.request.afterEventId, 'after_event_id');
        const minRank = rankOf(call.request.minPriority);
        let unreachableSince: number | undefined;
        while (!stopped) {
          let batch;
          try {
            batch = await triageEventsAfter(dataSource, cursor);
            unreachableSince = undefined;
          } catch (e) {
            if (!isDatabaseUnavailable(e)) throw e;
            unreachableSince ??= Date.now();
            if (Date.now() - unreachableSince >= outageMs)
              throw LtError.unavailable(`the event store has been unreachable for ${Math.round(outageMs / 1000)} s; reconnect with after_event_id ${cursor}`);
            await sleep(Math.min(1000, deps.pollMs * 2));
            continue;
          }
          if (batch.length === 0) {
            await sleep(deps.pollMs);
            continue;
          }
          // Urgent first within what is pending now; the resume point advances only when the whole batch is out.
          const ordered = [...batch].sort((a, b) => b.priority - a.priority || Number(a.id) - Number(b.id));
          const batchEnd = batch[batch.length - 1].id;
          for (let i = 0; i < ordered.length && !stopped; i++) {
            const e = ordered[i];
            if (e.kind === 'result.ready' && e.priority < minRank) continue;
            const ev: TriageEvent = {
              eventId: e.id,
              kind: e.kind,
              studyInstanceUid: e.studyUid,
              priority: priorityName(e.priority),
              at: e.at.toISOString(),
              jobId: String(e.jobId ?? 0),
              resumeAfterId: i === ordered.length - 1 ? batchEnd : String(cursor),
              assessment: assessmentOf(e.payload.assessment),
              error: typeof e.payload.error === 'string' ? e.payload.error : '',
            };
            // A client that went away never drains: its close ends the wait too.
            if (!call.write(ev)) await new Promise((r) => (call.once('drain', r), call.once('close', r)));
          }
          cursor = Number(batchEnd);
        }
      };
      // 'error' is how grpc-js ends a server stream with a status (destroy() would drop the status unsent).
      loop().then(
        () => call.end(),
        (e: unknown) => call.emit('error', Object.assign(new Error(toStatus(e).details), toStatus(e))),
      );
    },

    GetAuditTrail: unary(deps, 'GetAuditTrail', 'auditor', async (req, actor) => {
      const studyUid = req.studyInstanceUid ? requireUid(req.studyInstanceUid, 'study_instance_uid') : undefined;
      if (req.limit < 0) throw LtError.invalid('limit must not be negative (0 = the default, 1000)');
      const rows = await readAudit(dataSource, { studyUid, afterId: idAfter(req.afterId, 'after_id'), limit: req.limit || 1000 });
      // Recorded after the read, so the trail returned does not contain its own reading.
      await audit(dataSource, { actor, action: 'audit.read', outcome: 'success', studyUid, detail: { method: 'GetAuditTrail', afterId: Number(req.afterId || 0), records: rows.length } });
      return {
        records: rows.map((r) => ({
          id: String(r.id),
          at: r.at.toISOString(),
          actor: r.actor,
          action: r.action,
          outcome: r.outcome,
          studyInstanceUid: r.studyUid ?? '',
          objectUids: r.objectUids,
          detailJson: JSON.stringify(r.detail),
          prevHash: r.prevHash,
          hash: r.hash,
        })),
      };
    }),

    VerifyAudit: unary(deps, 'VerifyAudit', 'auditor', async () => {
      const v = await verifyAuditChain(dataSource);
      return { ok: v.ok, rows: String(v.rows), headHash: v.headHash, firstBadId: String(v.firstBadId ?? 0), problem: v.problem ?? '' };
    }),
  };
}

/** Starts the TriageService on host:port (0 = ephemeral), TLS when certificate files are configured. */
export async function startTriageServer(deps: TriageServiceDeps, bind: { host: string; port: number; tls?: TlsFiles }): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 1024 * 1024 });
  server.addService(triageProto.TriageService.service, triageHandlers(deps));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${bind.host}:${bind.port}`, serverCredentials(bind.tls), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 5000).unref();
      }),
  };
}
