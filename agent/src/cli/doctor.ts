import { lookup } from 'node:dns/promises';
import { statfs } from 'node:fs/promises';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate, connect as tlsConnect } from 'node:tls';
import {
  CHANNEL_ERROR_HEADER,
  CHANNEL_PATH,
  CHANNEL_REENROLL_HEADER,
  FerryError,
  isFerryError,
  PROTOCOL_VERSION,
  serverMessageSchema,
} from '@ferry/shared';
import WebSocket from 'ws';
import { signAgentToken } from '../cloud/agent-token.js';
import { ControlPlaneClient, normalizeServerUrl } from '../cloud/client.js';
import { type AgentIdentity, loadIdentity } from '../cloud/identity.js';
import { type AgentConfig, loadAgentConfig } from '../config.js';
import { runUploadTest } from '../diagnostics/upload-test.js';
import { echo } from '../dimse/echo-scu.js';
import { CLOCK_SKEW_ERROR_MS, CLOCK_SKEW_WARN_MS } from '../health/conditions.js';
import { probeImageCodec } from '../spool/image-codec-probe.js';
import { AGENT_VERSION } from '../version.js';
import { parse, requireString } from './args.js';

/**
 * `ferry-agent doctor --data-dir DIR`: the installer's connectivity test, run on the gateway. One
 * line per check, `PASS|FAIL|WARN <check>: <detail>`, and under each FAIL an indented `fix:` hint.
 * It changes nothing: a revoked gateway's identity is kept (only the running agent discards it).
 */

export type Outcome = 'PASS' | 'FAIL' | 'WARN';
export interface CheckResult {
  check: string;
  outcome: Outcome;
  detail: string;
  fix?: string;
}

const GiB = 1024 ** 3;
const DISK_FAIL_BYTES = GiB;
const CHECK_TIMEOUT_MS = 10_000;
const TLS_EXPIRY_WARN_DAYS = 14;
const PROBE_CALLING_AE = 'FERRY-DOCTOR';

const pass = (check: string, detail: string): CheckResult => ({ check, outcome: 'PASS', detail });
const warn = (check: string, detail: string): CheckResult => ({ check, outcome: 'WARN', detail });
const fail = (check: string, detail: string, fix: string): CheckResult => ({
  check,
  outcome: 'FAIL',
  detail,
  fix,
});

/** A check that cannot run because an earlier one failed: a warning, so the failure is counted once. */
const notChecked = (check: string, because: string): CheckResult =>
  warn(check, `not checked: needs the ${because} check to pass`);

export function formatResult(r: CheckResult): string {
  const line = `${r.outcome} ${r.check}: ${r.detail}`;
  return r.fix ? `${line}\n  fix: ${r.fix}` : line;
}

interface Enrolled {
  server: string;
  gatewayId: string;
  identity: AgentIdentity;
}

/** Runs every check in order, handing each result to `report` as soon as it is known. */
export async function runDoctor(dataDir: string, report: (r: CheckResult) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => {
    results.push(r);
    report(r);
  };

  let config: AgentConfig | undefined;
  try {
    config = await loadAgentConfig(dataDir);
    add(pass('config', `agent.json is valid (AE title ${config.aeTitle}, port ${config.port})`));
  } catch (err) {
    add(
      fail(
        'config',
        message(err),
        `correct ${dataDir}/agent.json (the field is named above), or enroll again to write a fresh one`,
      ),
    );
  }

  let enrolled: Enrolled | undefined;
  if (config) {
    const e = await checkEnrolled(dataDir, config);
    add(e.result);
    enrolled = e.enrolled;
  }

  if (enrolled) {
    const server = new URL(enrolled.server);
    const client = new ControlPlaneClient({
      server: enrolled.server,
      auth: { gatewayId: enrolled.gatewayId, privateJwk: enrolled.identity.privateJwk },
      timeoutMs: CHECK_TIMEOUT_MS,
    });
    const dns = await checkDns(server.hostname);
    add(dns);
    if (dns.outcome === 'FAIL') {
      for (const check of ['tls', 'clock', 'auth', 'websocket', 'upload']) add(notChecked(check, 'dns'));
    } else {
      add(await checkTls(server));
      add(await checkClock(enrolled.server));
      const auth = await checkAuth(client, dataDir);
      add(auth);
      if (auth.outcome === 'FAIL') {
        for (const check of ['websocket', 'upload']) add(notChecked(check, 'auth'));
      } else {
        add(await checkWebsocket(enrolled, config?.configVersion ?? 0));
        add(await checkUpload(client));
      }
    }
  } else if (config) {
    add(warn('control plane', 'not checked: this gateway is not enrolled, so it runs without the cloud'));
  }

  if (config) add(await checkDicom(config));
  add(await checkDisk(dataDir));
  add(await checkImageCodec());
  return results;
}

/** The JPEG-LS worker starts and codes a test band: without it pixel data still goes, as zstd. */
async function checkImageCodec(): Promise<CheckResult> {
  const probe = await probeImageCodec();
  if (probe.coded)
    return pass(
      'image codec',
      `JPEG-LS coded and verified a ${probe.rawBytes >> 10} KiB test band on a worker thread in ${Math.round(probe.ms)} ms`,
    );
  return warn(
    'image codec',
    'the JPEG-LS worker could not code a test band (its module or charlswasm.wasm is missing or damaged): pixel data is sent zstd-compressed instead; reinstall the release',
  );
}

async function checkEnrolled(
  dataDir: string,
  config: AgentConfig,
): Promise<{ result: CheckResult; enrolled?: Enrolled }> {
  const fix = `enroll this gateway: ferry-agent enroll --server URL --token-file FILE --key-thumbprint THUMBPRINT --data-dir ${dataDir}`;
  if (!config.server || !config.gatewayId)
    return { result: fail('enrolled', 'agent.json names no control plane server or gateway id', fix) };
  let identity: AgentIdentity | undefined;
  try {
    identity = await loadIdentity(dataDir);
  } catch (err) {
    return { result: fail('enrolled', `the gateway key is unreadable: ${message(err)}`, fix) };
  }
  if (!identity) return { result: fail('enrolled', `no gateway key in ${dataDir}/identity`, fix) };
  return {
    result: pass('enrolled', `gateway ${config.gatewayId} of ${config.server}`),
    enrolled: { server: config.server, gatewayId: config.gatewayId, identity },
  };
}

async function checkDns(host: string): Promise<CheckResult> {
  if (isIP(host)) return pass('dns', `${host} is an IP address, no lookup needed`);
  try {
    const addrs = await withTimeout(lookup(host, { all: true }), `looking up ${host}`);
    return pass('dns', `${host} resolves to ${addrs.map((a) => a.address).join(', ')}`);
  } catch (err) {
    return fail(
      'dns',
      `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? message(err)})`,
      'check the gateway’s DNS servers (/etc/resolv.conf) and the server URL in agent.json',
    );
  }
}

async function checkTls(server: URL): Promise<CheckResult> {
  if (server.protocol !== 'https:')
    return warn('tls', `the control plane URL is ${server.protocol}// so traffic to it is not encrypted`);
  const host = server.hostname;
  const port = Number(server.port || 443);
  try {
    const { cert, authorized, authorizationError, protocol } = await withTimeout(
      new Promise<{
        cert: PeerCertificate;
        authorized: boolean;
        authorizationError: Error | null;
        protocol: string | null;
      }>((resolve, reject) => {
        // Verified below, so that a bad certificate is described rather than just refused.
        const socket = tlsConnect({
          host,
          port,
          rejectUnauthorized: false,
          ...(isIP(host) ? {} : { servername: host }),
        });
        socket.once('secureConnect', () => {
          resolve({
            cert: socket.getPeerCertificate(),
            authorized: socket.authorized,
            authorizationError: socket.authorizationError ?? null,
            protocol: socket.getProtocol(),
          });
          socket.end();
        });
        socket.once('error', reject);
      }),
      `the TLS handshake with ${host}:${port}`,
    );
    const subject = cert.subject?.CN ?? JSON.stringify(cert.subject ?? {});
    const issuer = cert.issuer?.CN ?? cert.issuer?.O ?? 'unknown issuer';
    const days = Math.floor((Date.parse(cert.valid_to) - Date.now()) / 86_400_000);
    const about = `certificate ${subject} from ${issuer}, ${protocol ?? 'TLS'}, expires in ${days} day(s)`;
    if (!authorized)
      return fail(
        'tls',
        `the certificate is not trusted (${String(authorizationError)}): ${about}`,
        'install the CA that issued the control plane certificate (NODE_EXTRA_CA_CERTS), or check for an intercepting proxy',
      );
    const mismatch = checkServerIdentity(host, cert);
    if (mismatch)
      return fail(
        'tls',
        `the certificate does not name ${host} (${mismatch.message})`,
        'use the host name the certificate was issued for in the server URL',
      );
    if (days < 0)
      return fail('tls', `the certificate expired: ${about}`, 'renew the control plane certificate');
    if (days < TLS_EXPIRY_WARN_DAYS) return warn('tls', `renew soon: ${about}`);
    return pass('tls', about);
  } catch (err) {
    return fail(
      'tls',
      `no TLS handshake with ${host}:${port}: ${message(err)}`,
      'check that outbound HTTPS (port 443) to the control plane is allowed by the firewall',
    );
  }
}

async function checkClock(server: string): Promise<CheckResult> {
  const fix = 'enable time synchronisation (NTP, e.g. `timedatectl set-ntp true`)';
  try {
    const sent = Date.now();
    const res = await fetch(`${normalizeServerUrl(server)}/healthz`, {
      signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
      redirect: 'error',
    });
    const received = Date.now();
    await res.arrayBuffer();
    const date = res.headers.get('date');
    if (!date) return warn('clock', 'the control plane sent no Date header, so skew was not measured');
    // The Date header has 1 s resolution: compare it with the middle of the round trip.
    const offset = Math.round((sent + received) / 2 - Date.parse(date));
    const what = `this clock is ${Math.abs(Math.round(offset / 1000))} s ${offset >= 0 ? 'ahead of' : 'behind'} the control plane`;
    if (Math.abs(offset) > CLOCK_SKEW_ERROR_MS)
      return fail(
        'clock',
        `${what}; agent tokens are refused beyond ${CLOCK_SKEW_ERROR_MS / 1000} s of skew`,
        fix,
      );
    if (Math.abs(offset) > CLOCK_SKEW_WARN_MS) return warn('clock', `${what}: ${fix}`);
    return pass('clock', `within ${Math.max(1, Math.ceil(Math.abs(offset) / 1000))} s of the control plane`);
  } catch (err) {
    return fail(
      'clock',
      `could not ask the control plane for its time: ${message(err)}`,
      'check the server URL and that outbound HTTPS to it is allowed',
    );
  }
}

async function checkAuth(client: ControlPlaneClient, dataDir: string): Promise<CheckResult> {
  try {
    const me = await client.me();
    return pass(
      'auth',
      `signed in as gateway ${me.gatewayId} of ${me.facility.name} (AE title ${me.facility.aeTitle}, config version ${me.configVersion})`,
    );
  } catch (err) {
    if (isFerryError(err) && (err.code === 'auth.reenroll' || err.details?.reenroll === true))
      return fail(
        'auth',
        `the control plane does not know this gateway any more: ${err.message}`,
        `enroll it again with a new enrollment token: ferry-agent enroll --server URL --token-file FILE --key-thumbprint THUMBPRINT --data-dir ${dataDir}`,
      );
    if (isFerryError(err) && err.code === 'control.unreachable')
      return fail(
        'auth',
        err.message,
        'check the server URL and that outbound HTTPS to the control plane is allowed',
      );
    if (isFerryError(err) && err.code.startsWith('auth.'))
      return fail(
        'auth',
        withCode(err.code, err.message),
        'check the clock (see above); if it is right, enroll the gateway again',
      );
    return fail('auth', message(err), 'check the control plane’s status; retry later');
  }
}

function channelUrl(server: string): string {
  return `${normalizeServerUrl(server).replace(/^http/, 'ws')}${CHANNEL_PATH}`;
}

async function checkWebsocket(enrolled: Enrolled, configVersion: number): Promise<CheckResult> {
  const fix =
    'allow websocket upgrades (HTTP Upgrade) through any proxy between the gateway and the control plane';
  const token = await signAgentToken({
    privateJwk: enrolled.identity.privateJwk,
    gatewayId: enrolled.gatewayId,
    audience: normalizeServerUrl(enrolled.server),
  });
  const url = channelUrl(enrolled.server);
  return new Promise<CheckResult>((resolve) => {
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: CHECK_TIMEOUT_MS,
      perMessageDeflate: false,
    });
    let done = false;
    const finish = (r: CheckResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      resolve(r);
    };
    const timer = setTimeout(
      () => finish(fail('websocket', `no welcome within ${CHECK_TIMEOUT_MS} ms on ${url}`, fix)),
      CHECK_TIMEOUT_MS,
    );
    ws.on('open', () => {
      ws.send(
        JSON.stringify({
          type: 'hello',
          v: PROTOCOL_VERSION,
          agentVersion: AGENT_VERSION,
          configVersion,
          probe: true,
        }),
      );
    });
    ws.on('message', (data) => {
      let parsed: ReturnType<typeof serverMessageSchema.safeParse>;
      try {
        parsed = serverMessageSchema.safeParse(JSON.parse(String(data)));
      } catch {
        return finish(fail('websocket', 'the control plane sent a message that is not JSON', fix));
      }
      if (!parsed.success)
        return finish(
          fail('websocket', 'the control plane sent a message this agent does not understand', fix),
        );
      const msg = parsed.data;
      if (msg.type === 'welcome')
        return finish(
          pass('websocket', `channel open at ${url}, welcomed (heartbeat every ${msg.heartbeatSeconds} s)`),
        );
      if (msg.type === 'error' || msg.type === 'reenroll')
        return finish(
          fail(
            'websocket',
            `the control plane refused the channel: ${msg.type === 'error' ? withCode(msg.code, msg.message) : msg.message}`,
            msg.type === 'reenroll' ? 'enroll this gateway again' : fix,
          ),
        );
    });
    ws.on('unexpected-response', (_req, res) => {
      const code = res.headers[CHANNEL_ERROR_HEADER];
      const reenroll = res.headers[CHANNEL_REENROLL_HEADER];
      finish(
        fail(
          'websocket',
          `the upgrade was refused with HTTP ${res.statusCode}${code ? ` (${String(code)})` : ''}`,
          reenroll ? 'enroll this gateway again' : fix,
        ),
      );
    });
    ws.on('close', (code, reason) =>
      finish(fail('websocket', `the channel closed before the welcome (${code} ${reason.toString()})`, fix)),
    );
    ws.on('error', (err) => finish(fail('websocket', `cannot open ${url}: ${message(err)}`, fix)));
  });
}

async function checkUpload(client: ControlPlaneClient): Promise<CheckResult> {
  try {
    const r = await runUploadTest(client, { timeoutMs: 60_000 });
    if (!r.ok)
      return fail(
        'upload',
        `${r.bytes} bytes came back different from what was sent`,
        'something between the gateway and the cloud store alters uploads (an intercepting proxy?): exempt the store’s host',
      );
    return pass(
      'upload',
      `${r.bytes} bytes uploaded and read back intact in ${r.ms} ms (${(r.putBytesPerSecond / 1e6).toFixed(1)} MB/s)`,
    );
  } catch (err) {
    return fail(
      'upload',
      message(err),
      'allow outbound HTTPS to the cloud store named in the error (with S3, the bucket endpoint) as well as to the control plane',
    );
  }
}

async function checkDicom(config: AgentConfig): Promise<CheckResult> {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const callingAeTitle = config.allowedCallingAeTitles[0] ?? PROBE_CALLING_AE;
  try {
    const r = await echo({
      host,
      port: config.port,
      calledAeTitle: config.aeTitle,
      callingAeTitle,
      timeoutMs: CHECK_TIMEOUT_MS,
      ...(config.tls ? { tls: { rejectUnauthorized: false } } : {}),
    });
    return pass(
      'dicom',
      `the listener answers C-ECHO as ${config.aeTitle} on ${host}:${config.port} (${r.ms} ms, calling ${callingAeTitle})`,
    );
  } catch (err) {
    const refused = isFerryError(err) && /connection refused/.test(err.message);
    return fail(
      'dicom',
      message(err),
      refused
        ? 'start the agent (`systemctl start ferry-agent` or `ferry-agent start`) and check the port in agent.json'
        : 'check that the agent runs with this agent.json, and that its AE title and allowed calling AE titles match',
    );
  }
}

async function checkDisk(dataDir: string): Promise<CheckResult> {
  try {
    const s = await statfs(dataDir);
    const free = s.bavail * s.bsize;
    const total = s.blocks * s.bsize;
    const detail = `${(free / GiB).toFixed(1)} GiB free of ${(total / GiB).toFixed(1)} GiB on ${dataDir}`;
    if (free < DISK_FAIL_BYTES)
      return fail('disk', detail, 'free space on this disk or move the data directory to a larger one');
    return pass('disk', detail);
  } catch (err) {
    return fail('disk', `cannot read ${dataDir}: ${message(err)}`, 'check that the data directory exists');
  }
}

/**
 * An error as one line, its code once: Node's errno messages already start with or name their code
 * ("ENOENT: no such file…", "connect ECONNREFUSED …"), so the code is put in front only when missing.
 */
export function message(err: unknown): string {
  if (isFerryError(err)) return err.message;
  const e = err as NodeJS.ErrnoException;
  return withCode(e?.code, e?.message ?? String(err));
}

/** `code: text`, or just `text` when it already names the code. */
function withCode(code: string | undefined, text: string): string {
  return code && !text.includes(code) ? `${code}: ${text}` : text;
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new FerryError('control.unreachable', `${what} took longer than ${CHECK_TIMEOUT_MS} ms`)),
        CHECK_TIMEOUT_MS,
      );
    }),
  ]);
}

export async function doctorCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { 'data-dir': { type: 'string' } });
  const dataDir = requireString(values, 'data-dir');
  const results = await runDoctor(dataDir, (r) => process.stdout.write(`${formatResult(r)}\n`));
  const failed = results.filter((r) => r.outcome === 'FAIL').length;
  process.stdout.write(failed === 0 ? 'doctor: all checks passed\n' : `doctor: ${failed} check(s) failed\n`);
  process.exitCode = failed === 0 ? 0 : 1;
}
