import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { Connection } from './connection.js';
import type { AssociationPolicy } from './policy.js';
import type { StoreHandler } from './store-handler.js';

export interface ListenerOptions {
  host: string;
  port: number;
  policy: AssociationPolicy;
  tls?: { cert: string; key: string; ca?: string };
}

/**
 * The DICOM listener. Connections over the limit still get a proper A-ASSOCIATE-RJ (transient,
 * local limit exceeded) rather than a silent reset, so the sender's log says why.
 */
export class DicomListener {
  private server: Server | undefined;
  private readonly connections = new Set<Connection>();
  private policy: AssociationPolicy;

  constructor(
    private readonly opts: ListenerOptions,
    private readonly store: StoreHandler,
    private readonly log: Logger,
  ) {
    this.policy = opts.policy;
  }

  get activeAssociations(): number {
    return this.connections.size;
  }

  async listen(): Promise<{ host: string; port: number }> {
    const onSocket = (socket: Socket) => this.accept(socket);
    const tls = this.opts.tls;
    const server = tls
      ? createTlsServer(
          {
            cert: readFileSync(tls.cert),
            key: readFileSync(tls.key),
            ...(tls.ca ? { ca: readFileSync(tls.ca), requestCert: true, rejectUnauthorized: true } : {}),
          },
          onSocket,
        )
      : createTcpServer(onSocket);
    server.on('tlsClientError', (err: Error, socket: Socket) => {
      this.log.warn(
        { event: 'dicom.tls_error', peer: socket.remoteAddress, reason: err.message },
        'TLS handshake failed',
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ event: 'dicom.listener_error', err }, 'listener error'));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : this.opts.port;
    this.log.info(
      {
        event: 'dicom.listening',
        host: this.opts.host,
        port,
        aeTitle: this.policy.aeTitle,
        tls: Boolean(tls),
      },
      'DICOM listener ready',
    );
    return { host: this.opts.host, port };
  }

  private accept(socket: Socket): void {
    const overLimit = this.connections.size >= this.policy.maxAssociations;
    const conn: Connection = new Connection(
      socket,
      this.policy,
      this.store,
      this.log,
      () => this.connections.delete(conn),
      overLimit,
    );
    if (!overLimit) this.connections.add(conn);
  }

  /** Stops accepting; associations in progress run to their end unless `abortActive`. */
  async close(abortActive = false): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (abortActive) for (const c of this.connections) c.abort('listener shutting down');
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
