import type { IncomingMessage } from 'node:http';
import {
  type AgentMessage,
  CHANNEL_CLOSE,
  CHANNEL_ERROR_HEADER,
  CHANNEL_PATH,
  CHANNEL_REENROLL_HEADER,
  channelMessage,
  type DiagnosticRequest,
  type DiagnosticResult,
  type HealthReport,
  type ReleaseDescriptor,
  type ReleaseSigningKey,
  type ServerMessage,
  serverMessageSchema,
} from '@ferry/shared';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import WebSocket, { type RawData } from 'ws';
import { signAgentToken } from '../cloud/agent-token.js';
import { normalizeServerUrl } from '../cloud/client.js';
import type { RecipientKeyHolder } from '../cloud/recipient-key.js';
import { type BackoffPolicy, backoffDelay } from '../uploader/backoff.js';
import { AGENT_VERSION } from '../version.js';
import type { ConfigApplier } from './config-applier-contract.js';

/** 1 s doubling up to a minute, with full jitter: a restarted control plane is not hit by the fleet at once. */
export const CHANNEL_BACKOFF: BackoffPolicy = { baseMs: 1000, capMs: 60_000 };
/** The upgrade and the welcome after it must both come within this. */
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** A dead peer is one silent (no message, no pong) for this many ping intervals. */
const DEAD_AFTER_INTERVALS = 3;
/** Config and diagnostics are small; anything bigger is not ours. */
const MAX_PAYLOAD_BYTES = 4 << 20;
/** Heartbeats whose ack may still come (round trips for the clock offset). */
const MAX_UNACKED = 8;

export type ChannelState = 'idle' | 'connecting' | 'open' | 'waiting' | 'stopped' | 'reenroll-required';

/** The channel knows nothing of DICOM, the spool or the uploader: agent.ts wires in what it needs. */
/**
 * What the channel calls on the health monitor (health/): the channel owns this port so that the
 * operations floor (health, diagnostics, live-config) stays three rooms that do not import each other.
 */
export interface HealthSource {
  /** The next heartbeat's health report (interval counters cover the time since the last call). */
  report(): Promise<HealthReport>;
  /** The channel tells the health monitor the clock offset it measured (agent minus server, ms). */
  setClockOffset(ms: number): void;
}

/** What the channel calls on the diagnostics runner (diagnostics/); never throws (failures are `ok: false`). */
export interface DiagnosticRunner {
  run(request: DiagnosticRequest): Promise<DiagnosticResult>;
}

/** What the channel calls for an `upgrade` (upgrade/); it never throws, failures are logged there. */
export interface UpgradeRunner {
  upgrade(id: string, release: ReleaseDescriptor): Promise<void>;
}

export interface ControlChannelOptions {
  /** The control plane's http(s) URL from agent.json. */
  server: string;
  gatewayId: string;
  privateJwk: JWK;
  health: HealthSource;
  diagnostics: DiagnosticRunner;
  applier: ConfigApplier;
  log: Logger;
  /** The control plane no longer knows this gateway; the channel has stopped by the time this runs. */
  onReenroll: () => Promise<void>;
  /**
   * The recipient key the gateway seals for: reported in hello and heartbeats, replaced when the
   * control plane sends a rotated one. Without it neither is done (recipient-key messages are ignored).
   */
  recipientKey?: RecipientKeyHolder;
  backoff?: BackoffPolicy;
  agentVersion?: string;
  /** Installs releases the control plane sends; without it `upgrade` messages are ignored. */
  upgrades?: UpgradeRunner;
  /**
   * Called when a heartbeat with no error condition was acknowledged: the channel is up and the
   * gateway healthy (ends an upgrade's trial). With it, the first heartbeat goes out at the welcome.
   */
  onHealthy?: () => void;
  /** The release signing key a welcome carries (kept by upgrade/ when the gateway has none). */
  onReleaseSigningKey?: (key: ReleaseSigningKey) => Promise<void>;
  /** Extra `ws` client options (a CA for wss in tests, an agent for a proxy). */
  wsOptions?: WebSocket.ClientOptions;
}

/** The ws(s) URL of the channel for an http(s) control plane URL. */
export function channelUrl(server: string): string {
  return `${normalizeServerUrl(server).replace(/^http/, 'ws')}${CHANNEL_PATH}`;
}

/** One connection attempt: its socket, timers and heartbeat round trips. */
interface Session {
  ws: WebSocket;
  welcomed: boolean;
  lastSeen: number;
  heartbeatTimer: NodeJS.Timeout | undefined;
  pingTimer: NodeJS.Timeout | undefined;
  handshakeTimer: NodeJS.Timeout | undefined;
  /** seq → wall-clock ms when the heartbeat went out. */
  sent: Map<number, number>;
  /** Heartbeats that reported no error condition. */
  healthySeqs: Set<number>;
  ended: boolean;
  /** Why the socket went down, for the one log line an outage gets. */
  lastError: string | undefined;
}

/** An agent message before channelMessage() stamps the protocol version on it. */
type Outgoing = AgentMessage extends infer M ? (M extends unknown ? Omit<M, 'v'> : never) : never;

/**
 * The agent's live control channel: one outbound websocket to the control plane, kept open for the
 * life of the agent. It says hello with the config version in force, heartbeats health at the pace
 * the server sets, applies pushed config one version at a time and runs diagnostics. It reconnects
 * with jittered backoff whenever the socket drops or the peer goes silent; only a `reenroll` ends it.
 */
export class ControlChannel {
  private readonly audience: string;
  private readonly url: string;
  private readonly log: Logger;
  private readonly backoff: BackoffPolicy;
  private status: ChannelState = 'idle';
  private session: Session | undefined;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The next wait is the longest (the server does not speak our protocol version). */
  private waitLongest = false;
  /** The outage is logged once when it starts, and once when it ends. */
  private down = false;
  private seq = 0;
  /** Config versions are applied one at a time, in the order they came. */
  private configQueue: Promise<void> = Promise.resolve();
  private readonly diagnostics = new Set<Promise<void>>();

  constructor(private readonly opts: ControlChannelOptions) {
    this.audience = normalizeServerUrl(opts.server);
    this.url = channelUrl(opts.server);
    this.log = opts.log;
    this.backoff = opts.backoff ?? CHANNEL_BACKOFF;
  }

  get state(): ChannelState {
    return this.status;
  }

  start(): void {
    if (this.status !== 'idle') return;
    this.connect();
  }

  /** Closes the channel (1000) and waits for the config being applied, if any. */
  async stop(): Promise<void> {
    if (this.status === 'stopped') return;
    this.status = 'stopped';
    clearTimeout(this.retryTimer);
    const s = this.session;
    if (s) await this.closeSession(s, 1000, 'agent stopping');
    await this.configQueue;
    await Promise.allSettled([...this.diagnostics]);
    this.log.info({ event: 'control.channel_stopped' }, 'control channel stopped');
  }

  private get active(): boolean {
    return this.status !== 'stopped' && this.status !== 'reenroll-required';
  }

  private connect(): void {
    if (!this.active) return;
    this.status = 'connecting';
    void this.open().catch((err: unknown) => {
      // Signing the token failed: the key is unusable, which no retry fixes soon, but a later one may.
      this.log.error({ event: 'control.channel_failed', err }, 'could not open the control channel');
      this.retry(undefined);
    });
  }

  private async open(): Promise<void> {
    const token = await signAgentToken({
      privateJwk: this.opts.privateJwk,
      gatewayId: this.opts.gatewayId,
      audience: this.audience,
    });
    const recipientKeyThumbprint = await this.opts.recipientKey?.thumbprint();
    if (!this.active) return;
    const ws = new WebSocket(this.url, {
      ...this.opts.wsOptions,
      headers: { ...this.opts.wsOptions?.headers, authorization: `Bearer ${token}` },
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      maxPayload: MAX_PAYLOAD_BYTES,
      perMessageDeflate: false,
    });
    const s: Session = {
      ws,
      welcomed: false,
      lastSeen: Date.now(),
      heartbeatTimer: undefined,
      pingTimer: undefined,
      handshakeTimer: undefined,
      sent: new Map(),
      healthySeqs: new Set(),
      ended: false,
      lastError: undefined,
    };
    this.session = s;
    ws.on('unexpected-response', (req, res: IncomingMessage) => this.refused(s, req, res));
    ws.on('open', () => {
      s.lastSeen = Date.now();
      // The welcome must follow the upgrade; a server that accepts and says nothing is not one.
      s.handshakeTimer = setTimeout(() => {
        this.log.warn({ event: 'control.channel_no_welcome' }, 'no welcome from the control plane');
        ws.terminate();
      }, HANDSHAKE_TIMEOUT_MS);
      this.send(s, {
        type: 'hello',
        agentVersion: this.opts.agentVersion ?? AGENT_VERSION,
        configVersion: this.opts.applier.appliedVersion(),
        // A gateway that missed a rotation while offline is sent the current key after the welcome.
        ...(recipientKeyThumbprint ? { recipientKeyThumbprint } : {}),
      });
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      s.lastSeen = Date.now();
      if (isBinary) return this.log.warn({ event: 'control.channel_bad_message' }, 'binary message ignored');
      this.received(s, data.toString('utf8'));
    });
    ws.on('pong', () => {
      s.lastSeen = Date.now();
    });
    ws.on('error', (err) => {
      // 'close' follows; the reason is logged there, once per outage.
      this.log.debug({ event: 'control.channel_error', reason: err.message }, 'control channel error');
      s.lastError = err.message;
    });
    ws.on('close', (code: number, reason: Buffer) => this.ended(s, code, reason.toString('utf8')));
  }

  /** The upgrade was answered with an HTTP error; its headers say whether to enroll again. */
  private refused(s: Session, req: { destroy(): void }, res: IncomingMessage): void {
    const header = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const code = header(CHANNEL_ERROR_HEADER);
    const reenroll = header(CHANNEL_REENROLL_HEADER);
    res.resume();
    req.destroy();
    if (reenroll === 'true' || reenroll === '1') {
      this.finish(s);
      void this.reenroll(`the control plane refused the channel (${res.statusCode} ${code ?? ''})`.trim());
      return;
    }
    s.lastError = `HTTP ${res.statusCode}${code ? ` ${code}` : ''}`;
    this.ended(s, 1006, '');
  }

  private received(s: Session, text: string): void {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.log.warn(
        { event: 'control.channel_bad_message', reason: 'not JSON' },
        'unreadable message ignored',
      );
      return;
    }
    const parsed = serverMessageSchema.safeParse(json);
    if (!parsed.success) {
      const type = (json as { type?: unknown } | null)?.type;
      this.log.warn(
        {
          event: 'control.channel_bad_message',
          type: typeof type === 'string' ? type.slice(0, 40) : undefined,
        },
        'message this agent does not understand ignored',
      );
      return;
    }
    this.handle(s, parsed.data);
  }

  private handle(s: Session, msg: ServerMessage): void {
    switch (msg.type) {
      case 'welcome':
        if (msg.releaseSigningKey) void this.opts.onReleaseSigningKey?.(msg.releaseSigningKey);
        return this.welcomed(s, msg.heartbeatSeconds);
      case 'heartbeat.ack': {
        const sentAt = s.sent.get(msg.seq);
        const serverAt = Date.parse(msg.serverTime);
        if (sentAt === undefined || Number.isNaN(serverAt)) return;
        s.sent.delete(msg.seq);
        if (s.healthySeqs.delete(msg.seq)) this.opts.onHealthy?.();
        // The server stamped the ack about halfway through the round trip.
        const offset = Math.round((sentAt + Date.now()) / 2 - serverAt);
        this.opts.health.setClockOffset(offset);
        return;
      }
      case 'config':
        this.configQueue = this.configQueue.then(() => this.applyConfig(s, msg.version, msg.config));
        return;
      case 'diagnostic.request': {
        const run = this.runDiagnostic(s, msg.id, msg.request).finally(() => this.diagnostics.delete(run));
        this.diagnostics.add(run);
        return;
      }
      case 'error':
        if (msg.code === 'protocol.version_mismatch') {
          this.waitLongest = true;
          this.log.error(
            { event: 'control.version_mismatch', code: msg.code, reason: msg.message },
            'the control plane does not speak this agent’s protocol version; update the agent or the control plane',
          );
        } else {
          this.log.warn(
            { event: 'control.channel_server_error', code: msg.code, reason: msg.message },
            'control plane error',
          );
        }
        return;
      case 'reenroll':
        void this.reenroll(msg.message);
        return;
      case 'upgrade':
        void this.opts.upgrades?.upgrade(msg.id, msg.release);
        return;
      case 'recipient-key':
        // In the config queue: both rewrite agent.json, one at a time.
        this.configQueue = this.configQueue.then(() =>
          this.applyRecipientKey(s, msg.publicJwk, msg.thumbprint),
        );
        return;
    }
  }

  private async applyRecipientKey(s: Session, publicJwk: JWK, thumbprint: string): Promise<void> {
    const holder = this.opts.recipientKey;
    if (!holder) return;
    const changed = await holder.apply(publicJwk, thumbprint).catch((err: unknown) => {
      // Kept on the old key, which still opens: the control plane sends the new one again on resync.
      this.log.error(
        { event: 'control.recipient_key_failed', err },
        'could not keep the rotated recipient key',
      );
      return false;
    });
    // Report the key in use at once rather than at the next heartbeat.
    if (changed && !s.ended) await this.heartbeat(s);
  }

  private welcomed(s: Session, heartbeatSeconds: number): void {
    if (s.welcomed) return;
    s.welcomed = true;
    clearTimeout(s.handshakeTimer);
    this.status = 'open';
    this.attempt = 0;
    this.waitLongest = false;
    this.log.info(
      { event: this.down ? 'control.channel_restored' : 'control.channel_open', heartbeatSeconds },
      'control channel open',
    );
    this.down = false;
    const heartbeatMs = heartbeatSeconds * 1000;
    const beat = () => {
      // ±10% so that a fleet connected at the same moment does not heartbeat in step.
      s.heartbeatTimer = setTimeout(
        () => void this.heartbeat(s).finally(() => !s.ended && beat()),
        heartbeatMs * (0.9 + 0.2 * Math.random()),
      );
    };
    // A release on trial proves itself at once rather than a heartbeat interval later.
    if (this.opts.onHealthy) void this.heartbeat(s);
    beat();
    const pingMs = Math.max(1000, heartbeatMs);
    s.pingTimer = setInterval(() => {
      if (Date.now() - s.lastSeen > DEAD_AFTER_INTERVALS * pingMs) {
        s.lastError = `no answer for ${DEAD_AFTER_INTERVALS * pingMs} ms`;
        s.ws.terminate();
        return;
      }
      s.ws.ping();
    }, pingMs);
  }

  private async heartbeat(s: Session): Promise<void> {
    let health: Awaited<ReturnType<HealthSource['report']>>;
    try {
      health = await this.opts.health.report();
      const recipientKeyThumbprint = await this.opts.recipientKey?.thumbprint();
      if (recipientKeyThumbprint) health = { ...health, recipientKeyThumbprint };
    } catch (err) {
      this.log.error({ event: 'control.health_failed', err }, 'could not build the health report');
      return;
    }
    if (s.ended) return;
    const seq = this.seq++;
    s.sent.set(seq, Date.now());
    if (s.sent.size > MAX_UNACKED) s.sent.delete(s.sent.keys().next().value as number);
    if (this.opts.onHealthy && !health.conditions.some((c) => c.severity === 'error')) s.healthySeqs.add(seq);
    this.send(s, { type: 'heartbeat', seq, health });
  }

  private async applyConfig(s: Session, version: number, config: Record<string, unknown>): Promise<void> {
    const applied = this.opts.applier.appliedVersion();
    if (version === applied) {
      this.send(s, { type: 'config.applied', version });
      return;
    }
    if (version < applied) {
      this.log.info({ event: 'control.config_stale', version, applied }, 'older config version ignored');
      return;
    }
    const outcome = await this.opts.applier.apply(version, config).catch((err: unknown) => ({
      ok: false as const,
      reason: `the gateway failed applying it: ${err instanceof Error ? err.message : String(err)}`,
    }));
    this.send(
      s,
      outcome.ok
        ? { type: 'config.applied', version }
        : { type: 'config.rejected', version, reason: outcome.reason.slice(0, 2000) },
    );
  }

  private async runDiagnostic(
    s: Session,
    id: string,
    request: Parameters<DiagnosticRunner['run']>[0],
  ): Promise<void> {
    let result: DiagnosticResult;
    try {
      result = await this.opts.diagnostics.run(request);
    } catch (err) {
      result = {
        ok: false,
        summary: `the diagnostic failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 2000),
        code: 'diagnostic.failed',
      };
    }
    // The session may have ended meanwhile: the control plane times the request out and says so.
    this.send(s, { type: 'diagnostic.result', id, result });
  }

  private send(s: Session, msg: Outgoing): void {
    if (s.ended || s.ws.readyState !== WebSocket.OPEN) return;
    s.ws.send(JSON.stringify(channelMessage(msg)));
  }

  /** Clears the session's timers; true the first time only. */
  private finish(s: Session): boolean {
    if (s.ended) return false;
    s.ended = true;
    clearTimeout(s.heartbeatTimer);
    clearInterval(s.pingTimer);
    clearTimeout(s.handshakeTimer);
    if (this.session === s) this.session = undefined;
    return true;
  }

  private ended(s: Session, code: number, reason: string): void {
    if (!this.finish(s)) return;
    if (!this.active) return;
    if (code === CHANNEL_CLOSE.reenroll) {
      void this.reenroll(reason || 'the control plane closed the channel: enroll again');
      return;
    }
    if (code === CHANNEL_CLOSE.versionMismatch) this.waitLongest = true;
    this.retry({ code, reason: reason || s.lastError });
  }

  private retry(why: { code: number; reason: string | undefined } | undefined): void {
    if (!this.active) return;
    this.status = 'waiting';
    const delayMs = this.waitLongest ? this.backoff.capMs : backoffDelay(this.attempt++, this.backoff);
    const fields = {
      event: 'control.channel_down',
      code: why?.code,
      reason: why?.reason,
      attempt: this.attempt,
      delayMs,
    };
    if (!this.down) {
      this.down = true;
      this.log.warn(fields, 'control channel down; reconnecting (receiving and uploads go on)');
    } else {
      this.log.debug({ ...fields, event: 'control.channel_retry' }, 'control channel still down');
    }
    this.retryTimer = setTimeout(() => this.connect(), delayMs);
  }

  private async reenroll(message: string): Promise<void> {
    if (!this.active) return;
    this.status = 'reenroll-required';
    clearTimeout(this.retryTimer);
    const s = this.session;
    if (s) await this.closeSession(s, 1000, 'reenroll');
    this.log.error(
      { event: 'control.reenroll_required', reason: message },
      'the control plane no longer knows this gateway: the control channel stopped; enroll it again with `ferry-agent enroll`',
    );
    await this.opts.onReenroll();
  }

  private async closeSession(s: Session, code: number, reason: string): Promise<void> {
    this.finish(s);
    const ws = s.ws;
    if (ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close(code, reason);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000);
    });
    await Promise.race([closed, late]);
    clearTimeout(timer);
  }
}
