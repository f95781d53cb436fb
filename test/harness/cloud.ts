// The whole chain across real processes: the control plane (fs or S3 blobs), a facility, an agent
// enrolled through the real token path, and readers of the worklist and DICOMweb.

import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type AgentProcess, enrollAgent, scratch, sleep, startAgent } from './agent.js';
import { type ControlPlaneProcess, freshPostgresDatabase, startControlPlane } from './control-plane.js';
import { freePort } from './dcmtk.js';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { datasetHash } from './part10.js';
import { freshS3Bucket } from './s3.js';
import { startTcpFaultProxy, type TcpFaultProxy } from './tcp-fault-proxy.js';
import { selfSignedCert } from './tls.js';

/** Signs in again after this long (the control plane's sessions last 30 minutes). */
const SESSION_REFRESH_MS = 20 * 60_000;

export const CLOUD_ADMIN = { email: 'admin@ferry.test', password: 'correct horse battery staple' };

export interface CloudOptions {
  name: string;
  blobs?: 'fs' | 's3';
  database?: 'pglite' | 'postgres';
  /** The facility's study stable period; short in tests. */
  stablePeriodSeconds?: number;
  aeTitle?: string;
  /** Merged into agent.json after enrollment (e.g. `{ upload: { parallelism: 2 } }`). */
  agentConfig?: Record<string, unknown>;
  /** Extra control-plane environment. */
  env?: Record<string, string>;
  /** Put a fault proxy between the agent and the control plane (its public URL becomes the proxy). */
  proxyControlPlane?: boolean;
  /** Put a fault proxy in front of S3 (the presigned URLs point at it). */
  proxyS3?: boolean;
  /** Put a TCP fault proxy (latency, bandwidth, resets, black hole) between the agent and the control plane. */
  tcpProxyControlPlane?: boolean;
  /** Put a TCP fault proxy in front of S3 (the presigned URLs point at it). */
  tcpProxyS3?: boolean;
  /** The control plane serves HTTPS with a fresh self-signed certificate the agent is told to trust. */
  tls?: boolean;
  /** PGlite created and migrated by the control plane's first start, not copied (see pglite-seed.ts). */
  freshDatabase?: boolean;
}

export interface InstanceVersion {
  version: number;
  current: boolean;
  sha256: string;
  plainBytes: number;
  receivedAt: string;
  storedAt: string;
}

export interface StudyInstance {
  sopInstanceUid: string;
  /** Newest first; at most one is current. */
  versions: InstanceVersion[];
}

export interface StudySeries {
  seriesInstanceUid: string;
  modality?: string | null;
  instances: StudyInstance[];
}

/** GET /api/v1/studies/{uid} as the tests read it. */
export interface StudyDetail {
  studyInstanceUid: string;
  status: string;
  updated: boolean;
  instanceCount: number;
  series: StudySeries[];
}

/** Every stored version of every instance, flattened, with its series and SOP Instance UID. */
export function storedVersions(
  d: StudyDetail,
): (InstanceVersion & { sopInstanceUid: string; seriesInstanceUid: string })[] {
  return d.series.flatMap((se) =>
    se.instances.flatMap((i) =>
      i.versions.map((v) => ({
        ...v,
        sopInstanceUid: i.sopInstanceUid,
        seriesInstanceUid: se.seriesInstanceUid,
      })),
    ),
  );
}

/** The part of GET /api/v1/gateways/{id} every gateway test reads. */
export interface GatewayView {
  id: string;
  status: string;
  events: { type: string; at: string; details: Record<string, unknown> }[];
}

export interface Cloud {
  root: string;
  /** The PostgreSQL database, when the cloud runs on one. */
  databaseUrl: string | undefined;
  cp: ControlPlaneProcess;
  session: string;
  facilityId: string;
  aeTitle: string;
  agentDataDir: string;
  agent: AgentProcess;
  /** The fault proxy in front of the control plane or S3, when asked for. */
  proxy: FaultProxy | undefined;
  /** The TCP fault proxy between the agent and the control plane (tcpProxyControlPlane). */
  cpLink: TcpFaultProxy | undefined;
  /** The TCP fault proxy in front of S3 (tcpProxyS3). */
  s3Link: TcpFaultProxy | undefined;
  /** Starts the agent again on its data dir (after stop or kill9). */
  restartAgent(): Promise<AgentProcess>;
  /** Stops the control plane, waits `downMs`, starts it again on the same port and data. */
  restartControlPlane(downMs?: number): Promise<void>;
  stopControlPlane(): Promise<void>;
  /**
   * Another control-plane process on the same PostgreSQL database and data directory (same keys),
   * with the same public URL, on its own port: a second replica. Stopped by close().
   */
  startReplica(env?: Record<string, string>): Promise<ControlPlaneProcess>;
  /** GET /api/v1/gateways/{id}. */
  gateway<T = GatewayView>(gatewayId: string): Promise<T>;
  /** Polls GET /api/v1/gateways/{id} until `pred` holds; the error shows the last answer and the agent's log. */
  waitForGateway<T extends GatewayView = GatewayView>(
    gatewayId: string,
    pred: (g: T) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<T>;
  /** The agent's DICOM port as agent.json says now (it changes when a pushed config moves it). */
  agentConfig(): Promise<Record<string, unknown>>;
  startControlPlane(): Promise<void>;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  study(studyUid: string): Promise<StudyDetail | undefined>;
  /** Waits until the study is listed with `status` (default complete) and `instances` current instances. */
  waitForStudy(
    studyUid: string,
    opts: { instances: number; status?: string; timeoutMs?: number },
  ): Promise<StudyDetail>;
  /** WADO-RS retrieve of one instance, streamed to `outFile`; returns where the Part-10 body lies. */
  wadoInstance(
    studyUid: string,
    seriesUid: string,
    sopUid: string,
    outFile: string,
  ): Promise<{ start: number; end: number; contentType: string }>;
  /** WADO-RS retrieve of one instance into `dir`; SHA-256 of the dataset after its meta, streamed. */
  wadoDataset(
    studyUid: string,
    seriesUid: string,
    sopUid: string,
    dir: string,
  ): Promise<{ sha256: string; bytes: number; file: string }>;
  close(): Promise<void>;
}

async function patchAgentConfig(dataDir: string, patch: Record<string, unknown>): Promise<void> {
  const file = join(dataDir, 'agent.json');
  const current = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFile(file, JSON.stringify({ ...current, ...patch }, null, 2));
}

export async function startCloud(opts: CloudOptions): Promise<Cloud> {
  const root = await scratch(`cloud-${opts.name}`);
  const cleanups: (() => Promise<void>)[] = [];
  const env: Record<string, string> = { ...opts.env };
  let databaseUrl: string | undefined;
  if (opts.database === 'postgres') {
    const db = await freshPostgresDatabase();
    databaseUrl = db.url;
    cleanups.push(db.drop);
  }
  let proxy: FaultProxy | undefined;
  let s3Link: TcpFaultProxy | undefined;
  let cpLink: TcpFaultProxy | undefined;
  if (opts.blobs === 's3') {
    const bucket = await freshS3Bucket();
    Object.assign(env, bucket.env);
    cleanups.push(bucket.drop);
    if (opts.proxyS3) {
      const target = new URL(bucket.env.FERRY_S3_ENDPOINT ?? '');
      proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port) });
      env.FERRY_S3_ENDPOINT = proxy.url;
    }
    if (opts.tcpProxyS3) {
      const target = new URL(bucket.env.FERRY_S3_ENDPOINT ?? '');
      s3Link = await startTcpFaultProxy({ host: target.hostname, port: Number(target.port) });
      cleanups.push(s3Link.close);
      env.FERRY_S3_ENDPOINT = s3Link.url;
    }
  }
  const port = await freePort();
  const agentEnv: Record<string, string> = {};
  if (opts.tls) {
    const { cert, key } = await selfSignedCert({
      cert: join(root, 'cp-cert.pem'),
      key: join(root, 'cp-key.pem'),
    });
    Object.assign(env, {
      FERRY_TLS_CERT: cert,
      FERRY_TLS_KEY: key,
      FERRY_PUBLIC_URL: `https://127.0.0.1:${port}`,
    });
    agentEnv.NODE_EXTRA_CA_CERTS = cert;
  }
  if (opts.proxyControlPlane) {
    proxy = await startFaultProxy({ host: '127.0.0.1', port });
    env.FERRY_PUBLIC_URL = proxy.url;
  }
  if (opts.tcpProxyControlPlane) {
    cpLink = await startTcpFaultProxy({ host: '127.0.0.1', port });
    cleanups.push(cpLink.close);
    // The public URL keeps its scheme (TLS passes through the TCP proxy untouched).
    env.FERRY_PUBLIC_URL = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${cpLink.port}`;
  }
  if (proxy) cleanups.push(proxy.close);
  const cpOpts = {
    port,
    dataDir: join(root, 'control-plane'),
    adminEmail: CLOUD_ADMIN.email,
    adminPassword: CLOUD_ADMIN.password,
    env,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(opts.freshDatabase ? { freshDatabase: true } : {}),
  };
  let cp = await startControlPlane(cpOpts);
  let session = await cp.login(CLOUD_ADMIN.email, CLOUD_ADMIN.password);
  let signedInAt = Date.now();
  // A session lasts 30 minutes and a soak outlives it: sign in again well before it expires.
  const freshSession = async (): Promise<string> => {
    if (Date.now() - signedInAt > SESSION_REFRESH_MS) {
      session = await cp.login(CLOUD_ADMIN.email, CLOUD_ADMIN.password);
      signedInAt = Date.now();
    }
    return session;
  };
  const aeTitle = opts.aeTitle ?? 'GATEWAY';
  const api: Cloud['api'] = async (method, path, body) =>
    cp.api(method, path, { token: await freshSession(), ...(body !== undefined ? { body } : {}) });

  // The DICOM port is desired config the control plane pushes, like the AE title: set it there.
  const dicomPort = await freePort();
  const fac = await api<{ id: string }>('POST', '/api/v1/facilities', {
    name: `Radiology ${opts.name}`,
    aeTitle,
    stablePeriodSeconds: opts.stablePeriodSeconds ?? 2,
    gateway: { port: dicomPort },
  });
  if (fac.status !== 201) throw new Error(`facility: ${fac.status} ${JSON.stringify(fac.body)}`);
  const facilityId = fac.body.id;
  const tok = await api<{ token: string; keyThumbprint: string }>(
    'POST',
    `/api/v1/facilities/${facilityId}/enrollment-tokens`,
    {},
  );
  if (tok.status !== 201) throw new Error(`token: ${tok.status} ${JSON.stringify(tok.body)}`);

  const agentDataDir = join(root, 'agent');
  const enrolled = await enrollAgent(
    {
      server:
        env.FERRY_PUBLIC_URL && (opts.proxyControlPlane || opts.tcpProxyControlPlane)
          ? env.FERRY_PUBLIC_URL
          : cp.publicUrl,
      token: tok.body.token,
      keyThumbprint: tok.body.keyThumbprint,
      dataDir: agentDataDir,
    },
    { env: agentEnv },
  );
  if (enrolled.code !== 0) throw new Error(`enroll failed: ${enrolled.stderr}`);
  await patchAgentConfig(agentDataDir, { host: '127.0.0.1', port: dicomPort, ...opts.agentConfig });
  const launchAgent = () => startAgent({ dataDir: agentDataDir, env: agentEnv });

  const cloud: Cloud = {
    root,
    databaseUrl,
    get cp() {
      return cp;
    },
    get session() {
      return session;
    },
    facilityId,
    aeTitle,
    agentDataDir,
    proxy,
    cpLink,
    s3Link,
    agent: await launchAgent(),
    async restartAgent() {
      cloud.agent = await launchAgent();
      return cloud.agent;
    },
    async stopControlPlane() {
      await cp.stop();
    },
    async startControlPlane() {
      cp = await startControlPlane(cpOpts);
    },
    async startReplica(extraEnv = {}) {
      if (!databaseUrl)
        throw new Error('a second replica needs the PostgreSQL database (database: postgres)');
      const replica = await startControlPlane({
        ...cpOpts,
        port: await freePort(),
        env: { ...env, FERRY_PUBLIC_URL: cp.publicUrl, ...extraEnv },
      });
      cleanups.push(() => replica.stop());
      return replica;
    },
    async gateway<T>(gatewayId: string) {
      const r = await api<T>('GET', `/api/v1/gateways/${gatewayId}`);
      if (r.status !== 200) throw new Error(`gateway: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async waitForGateway<T extends GatewayView>(
      gatewayId: string,
      pred: (g: T) => boolean,
      what: string,
      timeoutMs = 20_000,
    ) {
      const deadline = Date.now() + timeoutMs;
      let last: T | undefined;
      for (;;) {
        last = await cloud.gateway<T>(gatewayId).catch(() => last);
        if (last && pred(last)) return last;
        if (Date.now() > deadline)
          throw new Error(
            `gateway never ${what}: ${JSON.stringify(last)}\n${cloud.agent.output().slice(-3000)}`,
          );
        await sleep(100);
      }
    },
    async agentConfig() {
      return JSON.parse(await readFile(join(agentDataDir, 'agent.json'), 'utf8')) as Record<string, unknown>;
    },
    async restartControlPlane(downMs = 0) {
      await cp.stop();
      await sleep(downMs);
      cp = await startControlPlane(cpOpts);
    },
    api,
    async study(studyUid) {
      const r = await api<StudyDetail>('GET', `/api/v1/studies/${encodeURIComponent(studyUid)}`);
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw new Error(`study ${studyUid}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async waitForStudy(studyUid, o) {
      const want = o.status ?? 'complete';
      const deadline = Date.now() + (o.timeoutMs ?? 120_000);
      let last: StudyDetail | undefined;
      for (;;) {
        last = await cloud.study(studyUid).catch(() => undefined);
        const current = last ? storedVersions(last).filter((v) => v.current).length : 0;
        if (last && last.status === want && current >= o.instances) return last;
        if (Date.now() > deadline)
          throw new Error(
            `study ${studyUid} not ${want} with ${o.instances} instances: ${last ? `${last.status}, ${current}` : 'absent'}\n${cloud.agent.output().slice(-3000)}`,
          );
        await sleep(250);
      }
    },
    async wadoInstance(studyUid, seriesUid, sopUid, outFile) {
      const res = await cp.fetch(
        `${cp.url}/dicomweb/studies/${studyUid}/series/${seriesUid}/instances/${sopUid}`,
        {
          headers: {
            authorization: `Bearer ${await freshSession()}`,
            // As stored, byte for byte (without transfer-syntax the answer is transcoded to ELE).
            accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
          },
        },
      );
      if (res.status !== 200 || !res.body)
        throw new Error(`WADO ${sopUid}: ${res.status} ${await res.text()}`);
      const contentType = res.headers.get('content-type') ?? '';
      await pipeline(Readable.fromWeb(res.body as WebReadableStream), createWriteStream(outFile));
      return { ...(await multipartSingleBody(outFile, contentType)), contentType };
    },
    async wadoDataset(studyUid, seriesUid, sopUid, dir) {
      const raw = join(dir, `${sopUid}.multipart`);
      const file = join(dir, `${sopUid}.dcm`);
      const { start, end } = await cloud.wadoInstance(studyUid, seriesUid, sopUid, raw);
      await pipeline(createReadStream(raw, { start, end: end - 1 }), createWriteStream(file));
      await rm(raw);
      return { ...(await datasetHash(file)), file };
    },
    async close() {
      await cloud.agent.stop().catch(() => undefined);
      await cp.stop().catch(() => undefined);
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    },
  };
  return cloud;
}

/**
 * Where the one part of a `multipart/related` file's body starts and ends, reading only its head and
 * tail (the part may be a 1 GiB instance).
 */
export async function multipartSingleBody(
  file: string,
  contentType: string,
): Promise<{ start: number; end: number }> {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const size = (await stat(file)).size;
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(size, 64 << 10));
    await fh.read(head, 0, head.length, 0);
    const first = head.indexOf(`--${boundary}\r\n`);
    const headersEnd = head.indexOf('\r\n\r\n', first);
    if (first < 0 || headersEnd < 0) throw new Error('multipart head not found');
    const tailLen = Math.min(size, 4096);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    const close = tail.lastIndexOf(`\r\n--${boundary}--`);
    if (close < 0) throw new Error('multipart close delimiter not found');
    const start = headersEnd + 4;
    // An instance retrieve has one part; anything else between would change the caller's hash.
    return { start, end: size - tailLen + close };
  } finally {
    await fh.close();
  }
}
