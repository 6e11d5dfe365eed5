import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

/** TLS material as file paths (config.tls), for any of our gRPC servers. */
export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
  requireClientCert?: boolean;
}

/** Server credentials from TLS files: insecure without a certificate; mTLS when requireClientCert. */
export function serverCredentials(tls: TlsFiles | undefined): grpc.ServerCredentials {
  if (!tls?.cert && !tls?.key) return grpc.ServerCredentials.createInsecure();
  if (!tls.cert || !tls.key) throw new Error('TLS needs both a certificate and a key');
  if (tls.requireClientCert && !tls.ca) throw new Error('requiring client certificates needs a CA file');
  const ca = tls.ca ? readFileSync(tls.ca) : null;
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: readFileSync(tls.cert), private_key: readFileSync(tls.key) }], Boolean(tls.requireClientCert));
}
