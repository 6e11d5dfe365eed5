import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * PEM files made with openssl in `dir`: a private CA, a server certificate it signed for 127.0.0.1, a client
 * certificate it signed, and a self-signed client certificate no CA vouches for.
 */
export interface TestCertificates {
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  strangerCert: string;
  strangerKey: string;
}

export function makeCertificates(dir: string): TestCertificates {
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=lung-triage test CA');
  const signed = (name: string, subject: string, ext: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject);
    writeFileSync(f(`${name}.ext`), ext);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '1', '-extfile', f(`${name}.ext`));
  };
  signed('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1\n');
  signed('client', '/CN=test PACS', 'extendedKeyUsage=clientAuth\n');
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('stranger.key'), '-out', f('stranger.pem'), '-days', '1', '-subj', '/CN=stranger');
  return {
    strangerCert: f('stranger.pem'),
    strangerKey: f('stranger.key'),
    caFile: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}
