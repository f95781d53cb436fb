import type { Socket } from 'node:net';
import type { Logger } from 'pino';

/** One TCP connection, the same for the raw socket and the TLS socket wrapped around it. */
export function connectionKey(socket: Socket): string {
  return `${socket.localPort}|${socket.remoteAddress}|${socket.remotePort}`;
}

/**
 * Connections that have not been associated yet, per peer address and in all. They hold no
 * association slot, and ARTIM bounds how long each may stay, but not how many there are: this is
 * what stops one address from opening sockets until the agent runs out of descriptors.
 */
export class PendingConnections {
  private readonly addressOf = new Map<string, string>();
  private readonly perAddress = new Map<string, number>();

  get size(): number {
    return this.addressOf.size;
  }

  /** Counts the connection `key` from `address`, or says why it may not wait here. */
  enter(key: string, address: string, limits: { perAddress: number; total: number }): string | undefined {
    if (this.addressOf.size >= limits.total)
      return `${this.addressOf.size} connections are already waiting to associate (limit ${limits.total})`;
    const held = this.perAddress.get(address) ?? 0;
    if (held >= limits.perAddress)
      return `${held} connections from this address are already waiting to associate (limit ${limits.perAddress})`;
    this.addressOf.set(key, address);
    this.perAddress.set(address, held + 1);
    return undefined;
  }

  /** The connection associated or closed; a second call is a no-op. */
  leave(key: string): void {
    const address = this.addressOf.get(key);
    if (address === undefined) return;
    this.addressOf.delete(key);
    const held = (this.perAddress.get(address) ?? 1) - 1;
    if (held > 0) this.perAddress.set(address, held);
    else this.perAddress.delete(address);
  }
}

/** Addresses named in one summary line; a flood from many is summarised by its count. */
const MAX_ADDRESSES_LOGGED = 10;

/**
 * Logs refused connections: the first at once, the rest as one line per window. A line per refusal
 * would let a connection flood write to the log as fast as it connects.
 */
export class RefusalLog {
  private refused = 0;
  private readonly addresses = new Set<string>();
  private lastReason = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly windowMs = 1000,
  ) {}

  note(address: string, reason: string): void {
    this.refused++;
    if (this.addresses.size < MAX_ADDRESSES_LOGGED) this.addresses.add(address);
    this.lastReason = reason;
    if (this.timer) return;
    this.flush();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.refused > 0) this.flush();
    }, this.windowMs);
    this.timer.unref();
  }

  /** Logs what is still unreported (on close). */
  flush(): void {
    if (this.refused === 0) return;
    this.log.warn(
      {
        event: 'dicom.connection_refused',
        refused: this.refused,
        peers: [...this.addresses],
        reason: this.lastReason,
      },
      'connections refused before association',
    );
    this.refused = 0;
    this.addresses.clear();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
