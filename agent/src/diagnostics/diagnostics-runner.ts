import { type DiagnosticRequest, type DiagnosticResult, isFerryError } from '@ferry/shared';
import type { Logger } from 'pino';
import type { ControlPlaneClient } from '../control/client.js';
import type { DiagnosticRunner } from '../control/runtime-hooks.js';
import { echo } from '../dimse/echo-scu.js';
import type { LogRing } from '../logger.js';
import { runUploadTest } from './upload-test.js';

export const DEFAULT_CALLED_AE = 'ANY-SCP';
export const DEFAULT_LOG_LINES = 500;
const DEFAULT_ECHO_TIMEOUT_MS = 10_000;
/** The result message travels over the channel; keep a log bundle well under a websocket frame limit. */
const MAX_LOG_BUNDLE_CHARS = 4 * 1024 * 1024;

export interface DiagnosticsRunnerDeps {
  control: ControlPlaneClient;
  /** The listener's AE title now (it can change live): the default calling AE of an echo. */
  ownAeTitle: () => string;
  logs: LogRing;
  log: Logger;
}

/** Runs the diagnostics an admin starts from the control plane; never throws. */
export class DiagnosticsRunner implements DiagnosticRunner {
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
        const calledAeTitle = request.calledAeTitle ?? DEFAULT_CALLED_AE;
        const callingAeTitle = request.callingAeTitle ?? this.#deps.ownAeTitle();
        const r = await echo({
          host: request.host,
          port: request.port,
          calledAeTitle,
          callingAeTitle,
          timeoutMs: request.timeoutMs ?? DEFAULT_ECHO_TIMEOUT_MS,
        });
        return {
          ok: true,
          summary: `C-ECHO from ${callingAeTitle} to ${calledAeTitle} at ${request.host}:${request.port} succeeded in ${r.ms} ms`,
          details: { status: r.status, ms: r.ms, calledAeTitle, callingAeTitle },
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
        let lines = this.#deps.logs.lines(request.lines ?? DEFAULT_LOG_LINES);
        // Drop the oldest lines until the bundle fits one channel message.
        let size = JSON.stringify(lines).length;
        while (size > MAX_LOG_BUNDLE_CHARS && lines.length > 0) {
          size -= JSON.stringify(lines[0]).length + 1;
          lines = lines.slice(1);
        }
        return {
          ok: true,
          summary: `${lines.length} recent log line(s), patient data removed`,
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
