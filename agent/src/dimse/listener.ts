import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { FerryError } from '@ferry/shared';
import type { Logger } from 'pino';
import { AliasUseCounter } from './alias-use.js';
import { Connection, type ConnectionHooks } from './connection.js';
import type { ListenerStats } from './listener-stats.js';
import { connectionKey, PendingConnections, RefusalLog } from './pending-connections.js';
import { type AssociationPolicy, callingAeShare, pendingLimits } from './policy.js';
import type { StoreHandler } from './store-handler.js';

/** Calling AE titles whose latest C-STORE is remembered (health reports the 50 latest). */
const MAX_CALLERS_TRACKED = 1000;

export interface ListenerOptions {
  host: string;
  port: number;
  policy: AssociationPolicy;
  tls?: { cert: string; key: string; ca?: string };
  /** Storage commitment SCP sessions (commitmentSessions); without it N-ACTION is answered 0x0211. */
  commitment?: ConnectionHooks['commitment'];
}

/**
 * The DICOM listener. An A-ASSOCIATE-RQ over the limit still gets a proper A-ASSOCIATE-RJ
 * (transient, local limit exceeded) rather than a silent reset, so the sender's log says why.
 *
 * Slots are counted when an association is accepted, not when a socket connects: a connection that
 * has not asked yet holds nothing (ARTIM bounds how long it may wait), so idle or trickling sockets
 * cannot fill the pool. One calling AE title may hold only its share of the slots (see
 * callingAeShare), so one flooding caller cannot lock the other modalities out.
 *
 * Connections that have not been associated yet are capped per peer address and in all (see
 * pendingLimits): one over the cap is closed at once, before TLS or any byte is read. Associated
 * connections do not count, so a modality holding many associations can still open more.
 *
 * Config changes apply live: a new policy (setPolicy) governs new associations only, since each
 * connection keeps the policy it was accepted under; a new port (rebind) binds the new server
 * before the old one stops accepting, and associations on the old socket run to their end.
 */
export class DicomListener {
  private server: Server | undefined;
  /** Servers replaced by rebind() that still have associations finishing on them. */
  private readonly retiring = new Set<Promise<void>>();
  private readonly connections = new Set<Connection>();
  /** Accepted associations, in all and per calling AE title. */
  private associations = 0;
  private readonly perCallingAe = new Map<string, number>();
  private readonly pending = new PendingConnections();
  private readonly refusals: RefusalLog;
  private policy: AssociationPolicy;
  private port: number;
  private listening = false;
  private associationsTotal = 0;
  private readonly lastStoreByCallingAe = new Map<string, Date>();
  private readonly aliasUse = new AliasUseCounter();
  private instancesStoredTotal = 0;
  private readonly stored = (callingAe: string) => {
    this.instancesStoredTotal++;
    // Most recent last, and bounded: with an empty allow-list any title may call.
    this.lastStoreByCallingAe.delete(callingAe);
    this.lastStoreByCallingAe.set(callingAe, new Date());
    if (this.lastStoreByCallingAe.size > MAX_CALLERS_TRACKED)
      this.lastStoreByCallingAe.delete(this.lastStoreByCallingAe.keys().next().value as string);
  };

  constructor(
    private readonly opts: ListenerOptions,
    private readonly store: StoreHandler,
    private readonly log: Logger,
  ) {
    this.policy = opts.policy;
    this.port = opts.port;
    this.refusals = new RefusalLog(log);
  }

  /** Accepted associations not closed yet (connections still to ask are not counted). */
  get activeAssociations(): number {
    return this.associations;
  }

  /** Connections not associated yet (still to send or have answered their A-ASSOCIATE-RQ). */
  get pendingConnections(): number {
    return this.pending.size;
  }

  /** The policy new associations get. */
  get currentPolicy(): AssociationPolicy {
    return this.policy;
  }

  /** The port bound (the requested one until listen() resolves). */
  get boundPort(): number {
    return this.port;
  }

  stats(): ListenerStats {
    return {
      listening: this.listening,
      aeTitle: this.policy.aeTitle,
      port: this.port,
      activeAssociations: this.associations,
      associationsTotal: this.associationsTotal,
      instancesStoredTotal: this.instancesStoredTotal,
      lastStoreByCallingAe: this.lastStoreByCallingAe,
      tlsCertFile: this.opts.tls?.cert,
      allowedCallingAeCount: this.policy.allowedCallingAeTitles.length,
      aeTitleAliases: this.aliasUse.of(this.policy),
    };
  }

  async listen(): Promise<{ host: string; port: number }> {
    const server = await this.bind(this.port);
    this.adopt(server);
    return { host: this.opts.host, port: this.port };
  }

  /** New associations get `policy`; those in progress keep the one they started with. */
  setPolicy(policy: AssociationPolicy): void {
    this.policy = policy;
    this.log.info(
      {
        event: 'dicom.policy_changed',
        aeTitle: policy.aeTitle,
        aeTitleAliases: policy.aeTitleAliases?.map((a) => `${a.aeTitle} until ${a.expiresAt}`) ?? [],
        allowedCallingAeTitles: policy.allowedCallingAeTitles.length,
        maxAssociations: policy.maxAssociations,
        maxAssociationsPerCallingAe: callingAeShare(policy),
        maxPendingPerAddress: pendingLimits(policy).perAddress,
        maxPendingConnections: pendingLimits(policy).total,
        userIdentity: policy.userIdentity?.require ?? 'none',
      },
      'DICOM association policy changed',
    );
  }

  /**
   * Moves the listener to `port` with `policy`. The new port is bound first: when it cannot be
   * (in use, not permitted) this throws a FerryError naming the port and the old listener goes on
   * as before. Otherwise the old server stops accepting and its associations finish on it.
   */
  async rebind(port: number, policy: AssociationPolicy): Promise<{ host: string; port: number }> {
    const next = await this.bind(port);
    const old = this.server;
    this.policy = policy;
    this.adopt(next);
    if (old) this.retire(old);
    return { host: this.opts.host, port: this.port };
  }

  private retire(server: Server): void {
    const done = new Promise<void>((resolve) => server.close(() => resolve()));
    this.retiring.add(done);
    void done.then(() => this.retiring.delete(done));
  }

  private async bind(port: number): Promise<Server> {
    const onSocket = (socket: Socket) => this.accept(socket);
    const tls = this.opts.tls;
    // TLS is spoken by a server that never listens: sockets reach it only once counted as pending,
    // so a refused one costs no handshake and no tls_error line.
    const secure = tls
      ? createTlsServer(
          {
            cert: readFileSync(tls.cert),
            key: readFileSync(tls.key),
            ...(tls.ca ? { ca: readFileSync(tls.ca), requestCert: true, rejectUnauthorized: true } : {}),
            // A silent peer gets no longer for its handshake than for its A-ASSOCIATE-RQ.
            handshakeTimeout: this.policy.artimTimeoutMs,
          },
          onSocket,
        )
      : undefined;
    secure?.on('tlsClientError', (err: Error, socket: Socket) => {
      this.log.warn(
        { event: 'dicom.tls_error', peer: socket.remoteAddress, reason: err.message },
        'TLS handshake failed',
      );
      // With a listener here the TLS server leaves the socket open; a failed handshake must not.
      socket.destroy();
    });
    const server = createTcpServer((raw: Socket) => {
      if (!this.enterPending(raw)) return;
      if (secure) secure.emit('connection', raw);
      else onSocket(raw);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, this.opts.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (cause) {
      throw bindError(cause, this.opts.host, port);
    }
    return server;
  }

  private adopt(server: Server): void {
    this.server = server;
    this.listening = true;
    server.on('error', (err) => {
      this.listening = false;
      this.log.error({ event: 'dicom.listener_error', err }, 'listener error');
    });
    server.on('close', () => {
      if (this.server === server) this.listening = false;
    });
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.port;
    this.log.info(
      {
        event: 'dicom.listening',
        host: this.opts.host,
        port: this.port,
        aeTitle: this.policy.aeTitle,
        tls: Boolean(this.opts.tls),
      },
      'DICOM listener ready',
    );
  }

  /** Counts a new TCP connection as pending until it associates or closes; false if it was refused. */
  private enterPending(raw: Socket): boolean {
    const address = raw.remoteAddress;
    const key = connectionKey(raw);
    const refused =
      address === undefined ? 'peer gone' : this.pending.enter(key, address, pendingLimits(this.policy));
    if (refused !== undefined) {
      this.refusals.note(address ?? '?', refused);
      raw.on('error', () => undefined);
      raw.destroy();
      return false;
    }
    raw.once('close', () => this.pending.leave(key));
    return true;
  }

  private accept(socket: Socket): void {
    let admitted: string | undefined;
    const key = connectionKey(socket);
    const hooks: ConnectionHooks = {
      admit: (callingAe) => {
        const refused = this.admit(callingAe);
        if (refused === undefined) {
          admitted = callingAe;
          this.pending.leave(key);
        }
        return refused;
      },
      stored: this.stored,
      calledAlias: (alias) => this.aliasUse.note(alias),
      ...(this.opts.commitment ? { commitment: this.opts.commitment } : {}),
    };
    const conn: Connection = new Connection(
      socket,
      this.policy,
      this.store,
      this.log,
      () => {
        this.connections.delete(conn);
        if (admitted !== undefined) this.release(admitted);
        admitted = undefined;
      },
      hooks,
    );
    this.connections.add(conn);
  }

  /** Takes a slot for `callingAe`, or says why there is none (under the policy new associations get). */
  private admit(callingAe: string): string | undefined {
    const p = this.policy;
    if (this.associations >= p.maxAssociations) return `more than ${p.maxAssociations} associations`;
    const held = this.perCallingAe.get(callingAe) ?? 0;
    const share = callingAeShare(p);
    if (held >= share)
      return `calling AE title "${callingAe}" already holds ${held} associations, its share of ${p.maxAssociations}`;
    this.associations++;
    this.associationsTotal++;
    this.perCallingAe.set(callingAe, held + 1);
    return undefined;
  }

  private release(callingAe: string): void {
    this.associations--;
    const held = (this.perCallingAe.get(callingAe) ?? 1) - 1;
    if (held > 0) this.perCallingAe.set(callingAe, held);
    else this.perCallingAe.delete(callingAe);
  }

  /** Stops accepting; associations in progress run to their end unless `abortActive`. */
  async close(abortActive = false): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.listening = false;
    this.refusals.stop();
    if (abortActive) for (const c of this.connections) c.abort('listener shutting down');
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all([...this.retiring]);
  }
}

/** A bind failure as the admin should read it: which port, and why. */
function bindError(cause: unknown, host: string, port: number): FerryError {
  const code = (cause as NodeJS.ErrnoException).code;
  const why =
    code === 'EADDRINUSE'
      ? `port ${port} is in use on this gateway`
      : code === 'EACCES'
        ? `port ${port} needs privileges this gateway does not have`
        : code === 'EADDRNOTAVAIL'
          ? `address ${host} is not available on this gateway (port ${port})`
          : `port ${port} cannot be bound (${code ?? (cause as Error).message})`;
  return new FerryError('config.invalid', why, { cause });
}
