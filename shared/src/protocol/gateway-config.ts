import { z } from 'zod';
import { aeTitleProblem } from '../dicom/ae-title.js';

/**
 * The desired config of one gateway as the control plane pushes it over the channel. Its fields are
 * agent.json fields, so the agent persists an applied version as its last-known-good agent.json.
 */

const aeTitle = z.string().superRefine((v, ctx) => {
  const problem = aeTitleProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `AE title ${problem}` });
});

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour clock)');

/**
 * A bandwidth window in the gateway's local time, e.g. a cap during business hours only. `to` before
 * `from` spans midnight. `days` uses 0 = Sunday … 6 = Saturday; the first matching window wins.
 */
export const bandwidthWindowSchema = z
  .object({
    days: z.array(z.number().int().min(0).max(6)).min(1).max(7),
    from: clock,
    to: clock,
    bandwidthBytesPerSecond: z.number().int().min(0),
  })
  .strict();
export type BandwidthWindow = z.infer<typeof bandwidthWindowSchema>;

export const gatewayUploadConfigSchema = z
  .object({
    parallelism: z.number().int().min(1).max(64),
    /** 0 = unlimited; applies outside every schedule window. */
    bandwidthBytesPerSecond: z.number().int().min(0),
    schedule: z.array(bandwidthWindowSchema).max(32),
    /** Hours a delivered object's local copy is kept; 0 = delete on receipt. */
    retentionHours: z
      .number()
      .min(0)
      .max(24 * 366),
  })
  .strict();

export const gatewayConfigV2Schema = z
  .object({
    aeTitle: aeTitle.transform((v) => v.trim()),
    port: z.number().int().min(1).max(65535),
    allowedCallingAeTitles: z.array(aeTitle.transform((v) => v.trim())).max(1000),
    maxAssociations: z.number().int().min(1).max(10_000),
    upload: gatewayUploadConfigSchema,
    /** Used by the control plane (study completion); the agent reports it and keeps it. */
    stablePeriodSeconds: z.number().int().min(1).max(86_400),
  })
  .strict();
/** A complete, valid desired gateway config. */
export type GatewayDesiredConfig = z.infer<typeof gatewayConfigV2Schema>;

/** Defaults every group starts from (the agent's own agent.json defaults). */
export const GATEWAY_CONFIG_DEFAULTS: Omit<GatewayDesiredConfig, 'aeTitle'> = {
  port: 4104,
  allowedCallingAeTitles: [],
  maxAssociations: 32,
  upload: { parallelism: 4, bandwidthBytesPerSecond: 0, schedule: [], retentionHours: 0 },
  stablePeriodSeconds: 60,
};

/**
 * What a group (defaults for all its gateways) or a facility (overrides for its gateways) may set.
 * Every field is optional; a facility's value wins over the group's, which wins over the defaults.
 */
export const gatewaySettingsSchema = z
  .object({
    port: z.number().int().min(1).max(65535).optional(),
    allowedCallingAeTitles: z
      .array(aeTitle.transform((v) => v.trim()))
      .max(1000)
      .optional(),
    maxAssociations: z.number().int().min(1).max(10_000).optional(),
    upload: gatewayUploadConfigSchema.partial().strict().optional(),
  })
  .strict();
export type GatewaySettings = z.infer<typeof gatewaySettingsSchema>;

/** Defaults < group settings < facility settings, plus the facility's AE title and stable period. */
export function mergeGatewayConfig(
  facility: { aeTitle: string; stablePeriodSeconds: number },
  group: GatewaySettings,
  own: GatewaySettings,
): GatewayDesiredConfig {
  const d = GATEWAY_CONFIG_DEFAULTS;
  return {
    aeTitle: facility.aeTitle,
    port: own.port ?? group.port ?? d.port,
    allowedCallingAeTitles:
      own.allowedCallingAeTitles ?? group.allowedCallingAeTitles ?? d.allowedCallingAeTitles,
    maxAssociations: own.maxAssociations ?? group.maxAssociations ?? d.maxAssociations,
    upload: { ...d.upload, ...group.upload, ...own.upload },
    stablePeriodSeconds: facility.stablePeriodSeconds,
  };
}
