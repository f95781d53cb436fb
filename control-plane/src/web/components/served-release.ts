import { compareReleaseVersions } from '@ferry/shared';
import type { Context } from 'hono';
import type { AppEnv } from '../../edge/types.js';

/** The version of the signed release this control plane serves; undefined when it has none to send. */
export async function servedReleaseVersion(c: Context<AppEnv>): Promise<string | undefined> {
  const agentRelease = c.get('deps').agentRelease;
  if (!agentRelease.signingKey) return undefined;
  return agentRelease.info().then(
    (i) => i.version,
    () => undefined,
  );
}

/** The version a gateway runs, and the served one after it when the gateway is behind. */
export function versionText(runs: string, served: string | undefined): string {
  return served !== undefined && compareReleaseVersions(runs, served) < 0
    ? `${runs} (behind ${served})`
    : runs;
}
