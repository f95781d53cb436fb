import { randomUUID } from 'node:crypto';
import {
  type AgentMessage,
  agentMessageSchema,
  CHANNEL_CLOSE,
  channelMessage,
  configForProtocol,
  type DiagnosticRequest,
  FerryError,
  MIN_CHANNEL_PROTOCOL,
  PROTOCOL_VERSION,
  type ReleaseSigningKey,
  type ServerMessage,
} from '@ferry/shared';
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Ctx } from '../context.js';
import { closeGatewayChannel } from '../services/close-gateway-channel.js';
import { type GatewayConfigVersion, latestGatewayConfigs } from '../services/latest-gateway-configs.js';
import { LocalOverrideWatch } from '../services/local-overrides.js';
import { openGatewayChannel } from '../services/open-gateway-channel.js';
import type { AgentActor } from '../services/permissions.js';
import { recordConfigAck } from '../services/record-config-ack.js';
import { recordDiagnosticResult } from '../services/record-diagnostic-result.js';
import { recordHeartbeat } from '../services/record-heartbeat.js';

/** What a channel needs from the hub that owns it. */
export interface ChannelHost {
  db: Ctx['db'];
  log: Logger;
  replicaId: string;
  heartbeatSeconds: number;
  /** True while the replica stops: closes then leave the gateway's status alone. */
  readonly stopping: boolean;
  /** Makes `channel` the gateway's channel on this replica; closes an older one. */
  register(channel: GatewayChannel): void;
  /** Forgets `channel` (if it is still the registered one) once it closed. */
  unregister(channel: GatewayChannel): void;
  /** Tracks work that must finish before the database closes. */
  track(work: Promise<unknown>): void;
  /** The control plane's current recipient key, when this replica hands it to gateways. */
  recipientKey(): CurrentRecipientKey | undefined;
  /** The release signing key's public half, handed to gateways in the welcome. */
  releaseSigningKey?(): ReleaseSigningKey | undefined;
}

/** The key gateways should seal for, with its RFC 7638 thumbprint. */
export interface CurrentRecipientKey {
  publicJwk: JWK;
  thumbprint: string;
}

/** Schema-invalid or unparsable messages tolerated before the channel is closed with 4400. */
const MAX_INVALID_MESSAGES = 5;

type Text = string | ArrayBuffer | Blob | ArrayBufferLike;

/**
 * One agent's websocket on this replica: the hello handshake, then each message in arrival order
 * through the services (a message waits for the one before it, so a heartbeat sent right after hello
 * sees the channel recorded). Authentication happened at the upgrade; `actor` is the gateway.
 */
export class GatewayChannel {
  state: 'hello' | 'open' | 'closed' = 'hello';
  /** Set once hello is accepted; names this channel in gateway_status. */
  channelId: string | undefined;
  /** The config version the gateway last reported in force. */
  appliedVersion = 0;
  /** The latest version it refused, which a periodic resync does not push again. */
  rejectedVersion: number | undefined;
  /** Pings sent since the last pong. */
  missedPongs = 0;
  /** The recipient key thumbprint the gateway last reported sealing for (hello, heartbeats). */
  recipientKeyThumbprint: string | undefined;
  readonly openedAt = Date.now();
  /** The latest desired config this channel found at hello or sent since: what heartbeats are compared with. */
  private desired: GatewayConfigVersion | undefined;
  /** The protocol the gateway said hello in; until then, the oldest the channel takes. */
  private agentProtocol = MIN_CHANNEL_PROTOCOL;
  private readonly overrides = new LocalOverrideWatch();
  private invalidMessages = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(
    private readonly host: ChannelHost,
    readonly ws: WebSocket,
    readonly actor: AgentActor,
    private readonly ip: string | undefined,
  ) {
    this.log = host.log.child({ gatewayId: actor.gatewayId });
    ws.on('pong', () => {
      this.missedPongs = 0;
    });
  }

  get gatewayId(): string {
    return this.actor.gatewayId;
  }

  /** Queues one received frame. */
  receive(data: Text): void {
    if (this.state === 'closed') return;
    this.queue = this.queue.then(() => this.handle(data)).catch((err: unknown) => this.fail(err));
  }

  send(msg: ServerMessage | Omit<ServerMessage, 'v'>): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(channelMessage(msg as ServerMessage)));
  }

  sendConfig(row: GatewayConfigVersion): void {
    this.desired = row;
    this.send({
      type: 'config',
      version: row.version,
      config: configForProtocol(row.config, this.agentProtocol),
    });
  }

  sendDiagnostic(id: string, request: DiagnosticRequest): void {
    this.send({ type: 'diagnostic.request', id, request });
  }

  /**
   * Sends the control plane's current recipient key when the gateway reported sealing for another.
   * Agents older than protocol 5 report none and are left alone (they would not understand it).
   */
  offerRecipientKey(): void {
    const key = this.host.recipientKey();
    const reported = this.recipientKeyThumbprint;
    if (!key || this.state !== 'open' || reported === undefined || reported === key.thumbprint) return;
    const { x, kid } = key.publicJwk;
    if (typeof x !== 'string') return;
    this.log.info(
      { event: 'channel.recipient_key_sent', from: reported, to: key.thumbprint },
      'sent the current recipient key',
    );
    this.send({
      type: 'recipient-key',
      publicJwk: { kty: 'OKP', crv: 'X25519', x, ...(kid ? { kid } : {}), use: 'enc' },
      thumbprint: key.thumbprint,
    });
  }

  /** Tells the gateway to enroll again and closes. */
  reenroll(message: string): void {
    this.send({ type: 'reenroll', message });
    this.close(CHANNEL_CLOSE.reenroll, 'reenroll');
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING)
      this.ws.close(code, reason);
  }

  /** The ping round: a socket that missed two pongs is dead; one that never said hello is dropped. */
  tick(now: number, helloTimeoutMs: number): void {
    if (this.state === 'hello' && now - this.openedAt > helloTimeoutMs) {
      this.close(CHANNEL_CLOSE.protocolError, 'no hello');
      return;
    }
    if (this.missedPongs >= 2) {
      this.log.info({ event: 'channel.dead_peer', channelId: this.channelId }, 'no pong; terminating');
      this.ws.terminate();
      return;
    }
    this.missedPongs++;
    this.ws.ping();
  }

  /** The socket closed (either side): records it once the queued messages are through. */
  closed(code: number): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.host.unregister(this);
    if (!wasOpen || !this.channelId) return;
    const channelId = this.channelId;
    const markOffline = !this.host.stopping;
    const work = this.queue
      .then(() =>
        closeGatewayChannel({
          ctx: this.ctx(),
          input: { channelId, code, replicaId: this.host.replicaId, markOffline },
        }),
      )
      .then(({ wentOffline }) =>
        this.log.info({ event: 'channel.closed', channelId, code, wentOffline }, 'channel closed'),
      )
      .catch((err: unknown) =>
        this.log.warn(
          { event: 'channel.close_failed', channelId, err: (err as Error).message },
          'close not recorded',
        ),
      );
    this.host.track(work);
  }

  private ctx(): Ctx {
    return {
      db: this.host.db,
      actor: this.actor,
      requestId: `channel-${this.channelId ?? 'hello'}`,
      ip: this.ip,
      log: this.log,
    };
  }

  private async handle(data: Text): Promise<void> {
    if (this.state === 'closed') return;
    if (typeof data !== 'string') return this.invalid('send JSON text frames, not binary');
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      return this.invalid('message is not valid JSON');
    }
    if (this.state === 'hello' && !this.versionAccepted(raw)) return;
    const parsed = agentMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const detail = parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`)
        .join('; ');
      return this.invalid(`message does not match the protocol: ${detail}`);
    }
    const msg = parsed.data;
    if (this.state === 'hello') {
      if (msg.type !== 'hello') return this.invalid(`send hello first, not ${msg.type}`);
      return this.hello(msg);
    }
    await this.dispatch(msg);
  }

  /** Checks hello's `v` before its shape: another version may shape hello differently. */
  private versionAccepted(raw: unknown): boolean {
    const v = (raw as { v?: unknown } | null)?.v;
    if (typeof v !== 'number' || !Number.isInteger(v)) return true; // the schema names the problem
    if (v >= MIN_CHANNEL_PROTOCOL && v <= PROTOCOL_VERSION) return true;
    const upgrade = v < MIN_CHANNEL_PROTOCOL ? 'upgrade the agent' : 'upgrade the control plane';
    this.send({
      type: 'error',
      code: 'protocol.version_mismatch',
      message: `the agent speaks protocol ${v}; this control plane speaks ${MIN_CHANNEL_PROTOCOL} to ${PROTOCOL_VERSION}: ${upgrade}`,
    });
    this.close(CHANNEL_CLOSE.versionMismatch, 'protocol version mismatch');
    return false;
  }

  private async hello(msg: Extract<AgentMessage, { type: 'hello' }>): Promise<void> {
    const welcome = {
      type: 'welcome' as const,
      gatewayId: this.gatewayId,
      heartbeatSeconds: this.host.heartbeatSeconds,
      ...releaseKeyField(this.host.releaseSigningKey?.()),
    };
    if (msg.probe) {
      // doctor's connectivity check: answered, but the live channel and the status are left alone.
      this.send({ ...welcome, serverTime: new Date().toISOString() });
      this.close(1000, 'probe answered');
      return;
    }
    this.channelId = randomUUID();
    this.agentProtocol = msg.v;
    this.appliedVersion = msg.configVersion;
    this.recipientKeyThumbprint = msg.recipientKeyThumbprint;
    const { latest } = await openGatewayChannel({
      ctx: this.ctx(),
      input: {
        channelId: this.channelId,
        replicaId: this.host.replicaId,
        heartbeatSeconds: this.host.heartbeatSeconds,
        agentVersion: msg.agentVersion,
      },
    });
    this.desired = latest;
    // The socket may have closed while the channel was recorded; closed() then skipped the write.
    if (this.state === 'closed') {
      const channelId = this.channelId;
      this.host.track(
        closeGatewayChannel({
          ctx: this.ctx(),
          input: { channelId, code: 1006, replicaId: this.host.replicaId, markOffline: !this.host.stopping },
        }).catch(() => {}),
      );
      return;
    }
    this.state = 'open';
    this.host.register(this);
    this.log.info(
      {
        event: 'channel.opened',
        channelId: this.channelId,
        agentVersion: msg.agentVersion,
        configVersion: msg.configVersion,
      },
      'channel opened',
    );
    this.send({ ...welcome, serverTime: new Date().toISOString() });
    if (latest && latest.version > msg.configVersion) this.sendConfig(latest);
    // A gateway that was offline through a rotation gets the new key as it comes back.
    this.offerRecipientKey();
  }

  private async dispatch(msg: AgentMessage): Promise<void> {
    switch (msg.type) {
      case 'hello':
        return this.invalid('hello was already accepted on this channel');
      case 'heartbeat': {
        const outcome = await recordHeartbeat({
          ctx: this.ctx(),
          // A local setting winning over the desired config is a condition like the agent's own.
          input: {
            channelId: this.channelId as string,
            health: this.overrides.apply(msg.health, this.desired),
          },
        });
        if (outcome.stale) {
          this.close(CHANNEL_CLOSE.replaced, 'a newer channel replaced this one');
          return;
        }
        this.appliedVersion = msg.health.configVersion;
        this.recipientKeyThumbprint = msg.health.recipientKeyThumbprint ?? this.recipientKeyThumbprint;
        if (outcome.from !== outcome.to)
          this.log.info(
            { event: 'gateway.status', from: outcome.from, to: outcome.to },
            'gateway status changed',
          );
        this.send({ type: 'heartbeat.ack', seq: msg.seq, serverTime: new Date().toISOString() });
        return;
      }
      case 'config.applied':
        await recordConfigAck({ ctx: this.ctx(), input: { version: msg.version, outcome: 'applied' } });
        this.appliedVersion = msg.version;
        if (this.rejectedVersion !== undefined && this.rejectedVersion <= msg.version)
          this.rejectedVersion = undefined;
        return;
      case 'config.rejected':
        await recordConfigAck({
          ctx: this.ctx(),
          input: { version: msg.version, outcome: 'rejected', reason: msg.reason },
        });
        this.rejectedVersion = msg.version;
        this.log.info({ event: 'config.rejected', version: msg.version }, 'gateway rejected a config');
        return;
      case 'diagnostic.result':
        await recordDiagnosticResult({ ctx: this.ctx(), input: { id: msg.id, result: msg.result } });
        return;
      case 'resync': {
        const latest = (
          await latestGatewayConfigs({ ctx: this.ctx(), input: { gatewayIds: [this.gatewayId] } })
        ).get(this.gatewayId);
        if (latest) this.sendConfig(latest);
        return;
      }
    }
  }

  private invalid(message: string): void {
    this.send({ type: 'error', code: 'protocol.message_invalid', message });
    this.invalidMessages++;
    if (this.invalidMessages >= MAX_INVALID_MESSAGES)
      this.close(CHANNEL_CLOSE.protocolError, 'protocol violation');
  }

  private fail(err: unknown): void {
    if (err instanceof FerryError) {
      this.send({ type: 'error', code: err.code, message: err.message });
      return;
    }
    this.log.error(
      { event: 'channel.message_failed', channelId: this.channelId, err },
      'channel message failed',
    );
    this.send({
      type: 'error',
      code: 'internal.unexpected',
      message: 'internal error; the message was not processed',
    });
  }
}

function releaseKeyField(key: ReleaseSigningKey | undefined): { releaseSigningKey?: ReleaseSigningKey } {
  return key ? { releaseSigningKey: key } : {};
}
