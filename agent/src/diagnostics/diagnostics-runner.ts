import {
  type DiagnosticRequest,
  type DiagnosticResult,
  type DicomPeer,
  FerryError,
  findListedPeer,
  isFerryError,
} from '@ferry/shared';
import type { Logger } from 'pino';
import type { ControlPlaneClient } from '../cloud/client.js';
import { echo } from '../dimse/echo-scu.js';
import type { LogRing } from '../logger.js';
import { runUploadTest } from './upload-test.js';

export const DEFAULT_LOG_LINES = 500;
const DEFAULT_ECHO_TIMEOUT_MS = 10_000;
/**
 * The result travels as one channel message, and the control plane takes at most 256 KiB per
 * message (CHANNEL_MAX_MESSAGE_BYTES); leave room for the envelope and the summary.
 */
export const MAX_LOG_BUNDLE_BYTES = 200 * 1024;

export interface DiagnosticsRunnerDeps {
  control: ControlPlaneClient;
  /** The listener's AE title now (it can change live): the default calling AE of an echo. */
  ownAeTitle: () => string;
  /**
   * The peers of the config in force. An echo goes only to one of these, whatever the control plane
   * asks: a compromised or buggy cloud cannot make the gateway probe other hosts of the hospital.
   */
  peers: () => readonly DicomPeer[];
  logs: LogRing;
  log: Logger;
}

/** Runs the diagnostics an admin starts from the control plane; never throws. */
export class DiagnosticsRunner {
  readonly #deps: DiagnosticsRunnerDeps;

  constructor(deps: DiagnosticsRunnerDeps) {
    this.#deps = deps;
  }

  async run(request: DiagnosticRequest): Promise<DiagnosticResult> {
    const started = performance.now();
    let result: DiagnosticResult;
    try {
      result = await this.#run(request);
    } catch (err) {
      result = failure(request.kind, err);
    }
    this.#deps.log.info(
      {
        event: 'diagnostic.ran',
        kind: request.kind,
        ok: result.ok,
        code: result.code,
        ms: Math.round(performance.now() - started),
      },
      'diagnostic ran',
    );
    return result;
  }

  async #run(request: DiagnosticRequest): Promise<DiagnosticResult> {
    switch (request.kind) {
      case 'echo': {
        const peer = findListedPeer(this.#deps.peers(), request);
        if (!peer) {
          const asked = request.peer ?? `${request.host}:${request.port}`;
          throw new FerryError(
            'diagnostic.peer_not_listed',
            `refused: ${asked} is not one of the DICOM peers in this gateway's config, so it was not contacted`,
          );
        }
        const calledAeTitle = peer.aeTitle;
        const callingAeTitle = request.callingAeTitle ?? this.#deps.ownAeTitle();
        const r = await echo({
          host: peer.host,
          port: peer.port,
          calledAeTitle,
          callingAeTitle,
          tls: peer.tls,
          timeoutMs: request.timeoutMs ?? DEFAULT_ECHO_TIMEOUT_MS,
        });
        return {
          ok: true,
          summary: `C-ECHO from ${callingAeTitle} to ${peer.name} (${calledAeTitle} at ${peer.host}:${peer.port}${peer.tls ? ', TLS' : ''}) succeeded in ${r.ms} ms`,
          details: { status: r.status, ms: r.ms, peer: peer.name, calledAeTitle, callingAeTitle },
        };
      }
      case 'upload-test': {
        const r = await runUploadTest(this.#deps.control);
        const mbps = (r.putBytesPerSecond / 1e6).toFixed(1);
        return r.ok
          ? {
              ok: true,
              summary: `uploaded ${r.bytes} bytes to the cloud store and read them back intact in ${r.ms} ms (${mbps} MB/s)`,
              details: { bytes: r.bytes, ms: r.ms, putBytesPerSecond: r.putBytesPerSecond },
            }
          : {
              ok: false,
              code: 'upload.hash_mismatch',
              summary: `the cloud store holds different bytes than this gateway sent: something between them alters uploads (a proxy?)`,
              details: { bytes: r.bytes, ms: r.ms },
            };
      }
      case 'logs': {
        const asked = this.#deps.logs.lines(request.lines ?? DEFAULT_LOG_LINES);
        // Keep the newest lines that fit one channel message.
        let budget = MAX_LOG_BUNDLE_BYTES;
        let first = asked.length;
        while (first > 0) {
          const size = Buffer.byteLength(JSON.stringify(asked[first - 1])) + 1;
          if (size > budget) break;
          budget -= size;
          first--;
        }
        const lines = asked.slice(first);
        const dropped = first > 0 ? `; the oldest ${first} left out to fit one message` : '';
        return {
          ok: true,
          summary: `${lines.length} recent log line(s), patient data removed${dropped}`,
          details: { lines },
        };
      }
    }
  }
}

function failure(kind: DiagnosticRequest['kind'], err: unknown): DiagnosticResult {
  if (isFerryError(err)) {
    const hint =
      kind === 'upload-test' && err.code === 'storage.unavailable'
        ? ': the gateway cannot reach the cloud store; check the firewall allows outbound HTTPS to it'
        : '';
    return { ok: false, code: err.code, summary: `${err.message}${hint}`.slice(0, 2000) };
  }
  return {
    ok: false,
    code: 'diagnostic.failed',
    summary: `the ${kind} diagnostic failed unexpectedly: ${(err as Error)?.message ?? String(err)}`.slice(
      0,
      2000,
    ),
  };
}
