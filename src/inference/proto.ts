/**
 * The one place the inference contract is loaded: client and server share these loader options and this
 * package definition, so both sides decode messages the same way.
 *
 * Generated types (src/generated, committed) come from the same options; regenerate after editing the .proto:
 *   npx proto-loader-gen-types --longs=String --enums=String --defaults --oneofs --grpcLib=@grpc/grpc-js \
 *     --includeComments -I proto -I node_modules/grpc-health-check/proto -O src/generated \
 *     lungtriage/inference/v1/inference.proto health/v1/health.proto
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as InferenceProto } from '../generated/inference';
import type { ProtoGrpcType as HealthProto } from '../generated/health';

/** proto-loader options used by every client and server of the inference contract (and by the type generator). */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Root folder of our .proto files (found from src/inference under ts, or dist/src/inference once built). */
export const PROTO_DIR =
  [path.resolve(__dirname, '../../proto'), path.resolve(__dirname, '../../../proto')].find((d) =>
    existsSync(path.join(d, 'lungtriage/inference/v1/inference.proto')),
  ) ?? path.resolve(__dirname, '../../proto');
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
