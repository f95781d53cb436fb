import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * Writes a self-signed P-256 certificate and its key (openssl) to the given PEM paths. It names
 * `cn` and both loopback names, so it serves 127.0.0.1 and localhost alike; trusting it (e.g.
 * storescu `+cf`, NODE_EXTRA_CA_CERTS) is trusting exactly this one server.
 */
export async function selfSignedCert(
  paths: { cert: string; key: string },
  cn = '127.0.0.1',
  days = 2,
): Promise<{ cert: string; key: string }> {
  await promisify(execFile)('openssl', [
    ...[
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      String(days),
    ],
    ...['-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ...['-keyout', paths.key, '-out', paths.cert],
  ]);
  return paths;
}
