/**
 * The one place the inference contract is loaded: client and server share these loader options and this
 * package definition, so both sides decode messages the same way.
 *
 * Generated types (src/generated, committed) come from the same options (src/grpc/loader.ts); regenerate after
 * editing any .proto with `npm run gen:proto` (package.json holds the command: all three contracts).
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as InferenceProto } from '../generated/inference';
import type { ProtoGrpcType as HealthProto } from '../generated/health';
import { LOADER_OPTIONS, PROTO_DIR } from '../grpc/loader';
/** Folder holding grpc-health-check's health/v1/health.proto. */
const HEALTH_PROTO_DIR = path.dirname(path.dirname(path.dirname(require.resolve('grpc-health-check/proto/health/v1/health.proto'))));

/** Fully-qualified service name, as used by grpc.health.v1 Check. */
export const INFERENCE_SERVICE_NAME = 'lungtriage.inference.v1.InferenceService';

/** Largest `hu` payload of one VolumeChunk (1 MiB): messages stay far below grpc-js's 4 MiB default. */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/** The loaded package definition (inference v1 and grpc.health.v1). */
export const packageDefinition = protoLoader.loadSync(['lungtriage/inference/v1/inference.proto', 'health/v1/health.proto'], {
  ...LOADER_OPTIONS,
  includeDirs: [PROTO_DIR, HEALTH_PROTO_DIR],
});

const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as InferenceProto & HealthProto;

/** The typed grpc package object: service constructors and definitions. */
export const inferenceProto = loaded.lungtriage.inference.v1;
/** grpc.health.v1 (for the client's Check). */
export const healthProto = loaded.grpc.health.v1;
