import { FerryError } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { latestGatewayConfig } from '../db/queries/gateways.js';
import { facilities, gateways, groups } from '../db/schema/index.js';
import { appendConfigVersion, buildGatewayConfig } from './gateway-config.js';
import { requireAgent } from './permissions.js';

export interface AgentSelf {
  gatewayId: string;
  facility: { id: string; name: string; aeTitle: string };
  configVersion: number;
  config: Record<string, unknown>;
}

/** What the calling gateway is: its facility and its latest desired config. */
export async function getAgentSelf({ ctx }: { ctx: Ctx; input?: Record<string, never> }): Promise<AgentSelf> {
  const agent = requireAgent(ctx.actor);
  const [row] = await ctx.db
    .select({
      facilityId: facilities.id,
      name: facilities.name,
      aeTitle: facilities.aeTitle,
      aeTitleAliases: facilities.aeTitleAliases,
      stablePeriodSeconds: facilities.stablePeriodSeconds,
      facilitySettings: facilities.gatewaySettings,
      groupSettings: groups.gatewaySettings,
    })
    .from(gateways)
    .innerJoin(facilities, eq(facilities.id, gateways.facilityId))
    .innerJoin(groups, eq(groups.id, gateways.groupId))
    .where(eq(gateways.id, agent.gatewayId));
  if (!row) throw new FerryError('auth.reenroll', 'this gateway is not enrolled; enroll it again');
  const facility = { id: row.facilityId, name: row.name, aeTitle: row.aeTitle };
  let latest = await latestGatewayConfig(ctx.db, agent.gatewayId);
  if (!latest) {
    // Enrollment always records version 1; a gateway registered some other way gets it now.
    latest = await ctx.db.transaction(async (tx) => {
      const again = await latestGatewayConfig(tx, agent.gatewayId);
      if (again) return again;
      const config = buildGatewayConfig(
        {
          aeTitle: row.aeTitle,
          aeTitleAliases: row.aeTitleAliases,
          stablePeriodSeconds: row.stablePeriodSeconds,
          gatewaySettings: row.facilitySettings,
        },
        row.groupSettings,
      );
      const version = await appendConfigVersion(tx, agent.gatewayId, config);
      return { version, config };
    });
  }
  return { gatewayId: agent.gatewayId, facility, configVersion: latest.version, config: latest.config };
}
