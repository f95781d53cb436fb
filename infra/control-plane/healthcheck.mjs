// The container's HEALTHCHECK: GET /healthz on this replica's own port, over HTTPS when it serves
// TLS itself (FERRY_TLS_CERT set). Exit 0 when it answers 200 with {"ok":true}, 1 otherwise.
// It probes its own process on loopback: the certificate names the public host, not 127.0.0.1, so
// only liveness is checked here, not the certificate (the load balancer and agents check that).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const port = Number(process.env.FERRY_HTTP_PORT ?? 8080);
const tls = Boolean(process.env.FERRY_TLS_CERT);
const request = tls ? httpsRequest : httpRequest;
const req = request(
  { host: '127.0.0.1', port, path: '/healthz', timeout: 4000, rejectUnauthorized: false },
  (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => {
      body += d;
    });
    res.on('end', () => {
      const ok = res.statusCode === 200 && body.includes('"ok":true');
      if (!ok) process.stderr.write(`healthcheck: /healthz answered ${res.statusCode}\n`);
      process.exit(ok ? 0 : 1);
    });
  },
);
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => {
  process.stderr.write(`healthcheck: ${err.message}\n`);
  process.exit(1);
});
req.end();
