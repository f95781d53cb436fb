import { CHANNEL_CLOSE, type ReleaseSigningKey, releaseDescriptorSchema } from '@ferry/shared';
import type { WSEvents } from 'hono/ws';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { type Ctx, systemCtx } from '../context.js';
import { claimDiagnostics } from '../services/claim-diagnostics.js';
import {
  type GatewayNotice,
  type GatewayNoticeDatabase,
  listenGatewayNotices,
  type Unlisten,
} from '../services/gateway-notices.js';
import { latestGatewayConfigs } from '../services/latest-gateway-configs.js';
import { listRevokedGateways } from '../services/list-revoked-gateways.js';
import type { AgentActor } from '../services/permissions.js';
import { type ChannelHost, type CurrentRecipientKey, GatewayChannel } from './gateway-channel.js';

export interface ChannelHubOptions {
  database: GatewayNoticeDatabase;
  log: Logger;
  /** Names this replica in gateway_status and events. */
  replicaId: string;
  /** The heartbeat interval handed to agents in `welcome`. */
  heartbeatSeconds: number;
  /** How often stale channels get their latest config again. */
  configResyncSeconds: number;
  /** Ping round interval (default: the heartbeat, within 1–30 s). */
  pingIntervalMs?: number;
  /** A socket that sends no hello within this is closed (default 10 s). */
  helloTimeoutMs?: number;
  /**
   * The current recipient key (read at each use: it follows the key file). Gateways reporting another
   * get it at hello, on recipientKeyRotated() and on each resync round. Without it keys are not sent.
   */
  recipientKey?: () => CurrentRecipientKey;
  /** The release signing key's public half, sent in every welcome (gateways enrolled before it keep it). */
  releaseSigningKey?: () => ReleaseSigningKey | undefined;
}

const noticeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('config'), gatewayIds: z.array(z.string()) }),
  z.object({ kind: z.literal('diagnostic'), gatewayId: z.string(), diagnosticId: z.string() }),
  z.object({ kind: z.literal('revoked'), gatewayId: z.string() }),
  z.object({
    kind: z.literal('upgrade'),
    gatewayId: z.string(),
    upgradeId: z.string(),
    release: releaseDescriptorSchema,
  }),
]);

const REVOKED_MESSAGE = 'this gateway was revoked; enroll it again to reconnect';

/** Gateways per query when a whole replica resyncs. */
const RESYNC_BATCH = 1000;
/** How long a stopping replica waits for agents to answer its close before it cuts them off. */
const STOP_CLOSE_WAIT_MS = 2000;

/**
 * This replica's live channels: one per gateway (a newer one replaces the older), fed by the replicas'
 * shared NOTIFY channel (config changes, diagnostics, revocations made through any replica), pinged to
 * find dead peers, and periodically resynced so a lost notice only delays a config. Made once per
 * process by the server and handed to the app through AppDeps.
 */
export class ChannelHub {
  readonly replicaId: string;
  readonly heartbeatSeconds: number;
  private readonly byGateway = new Map<string, GatewayChannel>();
  private readonly sockets = new Set<GatewayChannel>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly log: Logger;
  private unlisten: Unlisten | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stoppingFlag = false;
  private readonly host: ChannelHost;
  /** The hub's own work (resyncs, notices, claiming diagnostics) is the system's. */
  private readonly ctx: Ctx;

  constructor(private readonly opts: ChannelHubOptions) {
    this.replicaId = opts.replicaId;
    this.heartbeatSeconds = opts.heartbeatSeconds;
    this.log = opts.log.child({ component: 'channel-hub', replicaId: opts.replicaId });
    this.ctx = systemCtx(opts.database.db, this.log, `channel-hub-${opts.replicaId}`);
    const hub = this;
    this.host = {
      db: opts.database.db,
      log: this.log,
      replicaId: opts.replicaId,
      heartbeatSeconds: opts.heartbeatSeconds,
      get stopping() {
        return hub.stoppingFlag;
      },
      register: (channel) => this.register(channel),
      unregister: (channel) => this.unregister(channel),
      track: (work) => this.track(work),
      recipientKey: () => opts.recipientKey?.(),
      releaseSigningKey: () => opts.releaseSigningKey?.(),
    };
  }

  /** Subscribes to the replicas' notices and starts the ping and resync rounds. */
  async start(): Promise<void> {
    this.unlisten = await listenGatewayNotices(this.opts.database, {
      onPayload: (payload) => this.track(this.onNotice(payload)),
      // Notices sent while the listener was down are lost: re-read what they would have said.
      onReconnect: () => this.track(this.resync()),
      onError: (err) =>
        this.log.warn({ event: 'channel_hub.listen_error', err: err.message }, 'listen failed'),
    });
    const pingMs =
      this.opts.pingIntervalMs ?? Math.min(30_000, Math.max(1000, this.opts.heartbeatSeconds * 1000));
    const helloTimeoutMs = this.opts.helloTimeoutMs ?? 10_000;
    this.every(pingMs, () => {
      const now = Date.now();
      for (const channel of this.sockets) channel.tick(now, helloTimeoutMs);
    });
    this.every(this.opts.configResyncSeconds * 1000, () => this.track(this.resync()));
  }

  /**
   * Closes every channel with 1001 (going away) without marking gateways offline: they reconnect to
   * another replica, and the liveness job catches those that do not. Waits for the close records.
   */
  async stop(): Promise<void> {
    this.stoppingFlag = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.unlisten?.().catch(() => {});
    const open = [...this.sockets];
    for (const channel of open) channel.close(CHANNEL_CLOSE.goingAway, 'control plane stopping');
    const deadline = Date.now() + STOP_CLOSE_WAIT_MS;
    while (open.some((c) => c.state !== 'closed') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    for (const channel of open) if (channel.state !== 'closed') channel.ws.terminate();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** The websocket events for one authenticated agent (see ws/channel-route.ts). */
  events(actor: AgentActor, ip: string | undefined): WSEvents<unknown> {
    let channel: GatewayChannel | undefined;
    return {
      onOpen: (_evt, ctx) => {
        // @hono/node-server hands over the `ws` library's socket as `raw`.
        channel = new GatewayChannel(this.host, ctx.raw as WebSocket, actor, ip);
        if (this.stoppingFlag) {
          channel.close(CHANNEL_CLOSE.goingAway, 'control plane stopping');
          return;
        }
        this.sockets.add(channel);
      },
      onMessage: (evt) => channel?.receive(evt.data),
      onClose: (evt) => {
        if (!channel) return;
        this.sockets.delete(channel);
        channel.closed(evt.code);
      },
      onError: (evt) =>
        this.log.debug(
          { event: 'channel.socket_error', gatewayId: actor.gatewayId, type: evt.type },
          'socket error',
        ),
    };
  }

  /** The key file has a new current key: every local gateway sealing for another is sent it. */
  recipientKeyRotated(): void {
    for (const channel of this.byGateway.values()) channel.offerRecipientKey();
  }

  /** Gateways with an open channel on this replica. */
  connectedGatewayIds(): string[] {
    return [...this.byGateway.keys()];
  }

  /** The open channel of `gatewayId` on this replica. */
  channelOf(gatewayId: string): GatewayChannel | undefined {
    return this.byGateway.get(gatewayId);
  }

  /**
   * Re-sends the latest config to every local channel whose gateway neither runs it nor refused it,
   * sends diagnostics still waiting for local gateways, and closes channels of revoked gateways.
   */
  async resync(): Promise<void> {
    const ids = this.connectedGatewayIds();
    for (let i = 0; i < ids.length; i += RESYNC_BATCH) {
      const batch = ids.slice(i, i + RESYNC_BATCH);
      // A revocation whose notice was lost still ends the channel.
      for (const gatewayId of await listRevokedGateways({ ctx: this.ctx, input: { gatewayIds: batch } }))
        this.byGateway.get(gatewayId)?.reenroll(REVOKED_MESSAGE);
      // A key message lost, or one the gateway could not store, is sent again.
      for (const gatewayId of batch) this.byGateway.get(gatewayId)?.offerRecipientKey();
      const latest = await latestGatewayConfigs({ ctx: this.ctx, input: { gatewayIds: batch } });
      for (const [gatewayId, row] of latest) {
        const channel = this.byGateway.get(gatewayId);
        if (!channel || row.version === channel.appliedVersion || row.version === channel.rejectedVersion)
          continue;
        channel.sendConfig(row);
      }
      await this.sendDiagnostics(batch);
    }
  }

  private async onNotice(payload: string): Promise<void> {
    let notice: GatewayNotice;
    try {
      notice = noticeSchema.parse(JSON.parse(payload));
    } catch {
      this.log.warn({ event: 'channel_hub.bad_notice' }, 'ignored a notice that does not parse');
      return;
    }
    if (notice.kind === 'config') {
      const local = notice.gatewayIds.filter((id) => this.byGateway.has(id));
      if (local.length === 0) return;
      const latest = await latestGatewayConfigs({ ctx: this.ctx, input: { gatewayIds: local } });
      for (const [gatewayId, row] of latest) {
        const channel = this.byGateway.get(gatewayId);
        if (channel && row.version !== channel.appliedVersion) channel.sendConfig(row);
      }
    } else if (notice.kind === 'diagnostic') {
      if (this.byGateway.has(notice.gatewayId))
        await this.sendDiagnostics([notice.gatewayId], notice.diagnosticId);
    } else if (notice.kind === 'upgrade') {
      this.byGateway
        .get(notice.gatewayId)
        ?.send({ type: 'upgrade', id: notice.upgradeId, release: notice.release });
    } else {
      this.byGateway.get(notice.gatewayId)?.reenroll(REVOKED_MESSAGE);
    }
  }

  private async sendDiagnostics(gatewayIds: string[], diagnosticId?: string): Promise<void> {
    const claimed = await claimDiagnostics({ ctx: this.ctx, input: { gatewayIds, diagnosticId } });
    for (const d of claimed) this.byGateway.get(d.gatewayId)?.sendDiagnostic(d.id, d.request);
  }

  private register(channel: GatewayChannel): void {
    const older = this.byGateway.get(channel.gatewayId);
    this.byGateway.set(channel.gatewayId, channel);
    if (older && older !== channel) older.close(CHANNEL_CLOSE.replaced, 'a newer channel replaced this one');
    // A diagnostic asked while the gateway was between channels (or on another replica) goes out now.
    this.track(this.sendDiagnostics([channel.gatewayId]));
  }

  private unregister(channel: GatewayChannel): void {
    if (this.byGateway.get(channel.gatewayId) === channel) this.byGateway.delete(channel.gatewayId);
  }

  private track(work: Promise<unknown>): void {
    const p = work.catch((err: unknown) =>
      this.log.warn({ event: 'channel_hub.failed', err: (err as Error).message }, 'channel hub work failed'),
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}
