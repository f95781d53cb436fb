import { desc, eq } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { configVersions, gateways } from '../db/schema/index.js';

/** The agent's default DICOM port (agent.json `port`). */
export const DEFAULT_GATEWAY_PORT = 4104;
/** The agent's default association limit (agent.json `maxAssociations`). */
export const DEFAULT_MAX_ASSOCIATIONS = 32;

/** The desired config the control plane holds for a gateway; the fields mirror the agent's agent.json. */
export type GatewayConfig = {
  aeTitle: string;
  port: number;
  allowedCallingAeTitles: string[];
  maxAssociations: number;
};

/** The desired config of a gateway serving `facility`. */
export function buildGatewayConfig(facility: { aeTitle: string }): GatewayConfig {
  return {
    aeTitle: facility.aeTitle,
    port: DEFAULT_GATEWAY_PORT,
    allowedCallingAeTitles: [],
    maxAssociations: DEFAULT_MAX_ASSOCIATIONS,
  };
}

/**
 * Records `config` as the gateway's next config version inside the caller's transaction and returns
 * its number (1 for the first). The gateway row is locked first, so concurrent appends for one
 * gateway take turns instead of colliding on the version.
 */
export async function appendConfigVersion(
  tx: DbOrTx,
  gatewayId: string,
  config: GatewayConfig,
): Promise<number> {
  await tx.select({ id: gateways.id }).from(gateways).where(eq(gateways.id, gatewayId)).for('update');
  const [latest] = await tx
    .select({ version: configVersions.version })
    .from(configVersions)
    .where(eq(configVersions.gatewayId, gatewayId))
    .orderBy(desc(configVersions.version))
    .limit(1);
  const version = (latest?.version ?? 0) + 1;
  await tx.insert(configVersions).values({ gatewayId, version, config });
  return version;
}
