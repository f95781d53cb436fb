import { FerryError } from '@ferry/shared';
import { and, eq, sql } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { configVersions, gatewayEvents, gatewayStatus } from '../db/schema/index.js';
import { requireAgent } from './permissions.js';

export type ConfigAck =
  | { version: number; outcome: 'applied' }
  | { version: number; outcome: 'rejected'; reason: string };

/**
 * Records the calling gateway's answer to a pushed config version. Applied: it is the version in force
 * (and clears an older rejection). Rejected: the version and the gateway's reason are kept in
 * gateway_status.rejected_config, where the admin sees them; the old config stays in force.
 */
export async function recordConfigAck({ ctx, input }: { ctx: Ctx; input: ConfigAck }): Promise<void> {
  const actor = requireAgent(ctx.actor);
  await ctx.db.transaction(async (tx) => {
    const [known] = await tx
      .select({ version: configVersions.version })
      .from(configVersions)
      .where(and(eq(configVersions.gatewayId, actor.gatewayId), eq(configVersions.version, input.version)));
    if (!known)
      throw new FerryError('resource.not_found', `no config version ${input.version} for this gateway`);
    const at = new Date();
    if (input.outcome === 'applied') {
      await tx
        .update(gatewayStatus)
        .set({
          appliedConfigVersion: input.version,
          rejectedConfig: sql`case when (${gatewayStatus.rejectedConfig}->>'version')::int <= ${input.version} then null else ${gatewayStatus.rejectedConfig} end`,
        })
        .where(eq(gatewayStatus.gatewayId, actor.gatewayId));
    } else {
      await tx
        .update(gatewayStatus)
        .set({ rejectedConfig: { version: input.version, reason: input.reason, at: at.toISOString() } })
        .where(eq(gatewayStatus.gatewayId, actor.gatewayId));
    }
    await tx.insert(gatewayEvents).values({
      groupId: actor.groupId,
      gatewayId: actor.gatewayId,
      at,
      type: `config.${input.outcome}`,
      details:
        input.outcome === 'applied'
          ? { version: input.version }
          : { version: input.version, reason: input.reason },
    });
  });
}
