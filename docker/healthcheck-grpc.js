#!/usr/bin/env node
// Container health check of the inference worker: grpc.health.v1 Check, exit 0 only when the answer is SERVING.
// Usage: node docker/healthcheck-grpc.js [host:port] [service]
//   host:port defaults to 127.0.0.1:$LT_WORKER_PORT (50051); service defaults to '' (the whole server, which the
//   worker reports NOT_SERVING while it shuts down). When the worker serves TLS (LT_TLS_CERT), the check uses TLS
//   too, trusting LT_TLS_CA, presenting the worker's own certificate when client certificates are required, and
//   skipping the host-name check (it dials itself by loopback address).
'use strict';
const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { protoPath } = require('grpc-health-check');

const target = process.argv[2] || `127.0.0.1:${process.env.LT_WORKER_PORT || 50051}`;
const service = process.argv[3] || '';
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS || 3000);

function credentials() {
  const env = process.env;
  if (!env.LT_TLS_CERT) return grpc.credentials.createInsecure();
  const read = (f) => (f ? fs.readFileSync(f) : null);
  const mtls = ['true', '1', 'yes'].includes(String(env.LT_TLS_REQUIRE_CLIENT_CERT));
  return grpc.credentials.createSsl(read(env.LT_TLS_CA), mtls ? read(env.LT_TLS_KEY) : null, mtls ? read(env.LT_TLS_CERT) : null, {
    checkServerIdentity: () => undefined,
  });
}

const def = protoLoader.loadSync(protoPath, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
const { Health } = grpc.loadPackageDefinition(def).grpc.health.v1;
const client = new Health(target, credentials());
client.check({ service }, { deadline: Date.now() + timeoutMs }, (err, res) => {
  client.close();
  if (err) {
    process.stderr.write(`unhealthy: ${target}: ${err.details || err.message}\n`);
    process.exit(1);
  }
  if (res.status !== 'SERVING') {
    process.stderr.write(`unhealthy: ${target} reports ${res.status}\n`);
    process.exit(1);
  }
  process.exit(0);
});
