/**
 * gRPC plumbing every contract shares (inference worker and client, TriageService): one set of proto-loader options
 * and the folder of our .proto files, so every side decodes messages the same way.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type * as protoLoader from '@grpc/proto-loader';

/** proto-loader options used by every client and server of our contracts (and by the type generator, `npm run gen:proto`). */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Root folder of our .proto files (found from src/grpc under ts, or dist/src/grpc once built). */
export const PROTO_DIR =
  [path.resolve(__dirname, '../../proto'), path.resolve(__dirname, '../../../proto')].find((d) =>
    existsSync(path.join(d, 'lungtriage/inference/v1/inference.proto')),
  ) ?? path.resolve(__dirname, '../../proto');
