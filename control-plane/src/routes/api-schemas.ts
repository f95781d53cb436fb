import {
  AE_TITLE_ALIAS_DEFAULT_DAYS,
  AE_TITLE_ALIAS_MAX_DAYS,
  AE_TITLE_ALIASES_MAX,
  activeAeTitleAliases,
  aeTitleProblem,
  conditionSchema,
  gatewaySettingsSchema,
} from '@ferry/shared';
import { z } from '@hono/zod-openapi';
import { NAME_MAX_LENGTH, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../services/input-rules.js';
import type { FacilityRow } from '../services/list-facilities.js';
import { GATEWAY_STATUSES, type GatewayView } from '../services/list-gateways.js';
import { type UserView, userRoles } from '../services/list-users.js';
import { STABLE_PERIOD_MAX_SECONDS, STABLE_PERIOD_MIN_SECONDS } from '../services/stable-period.js';

/** Input and output schemas shared by the facility, gateway, group, user and audit routes. */

export const idParamSchema = z.object({
  id: z
    .uuid()
    .openapi({ param: { name: 'id', in: 'path' }, example: '0b9d6c1e-6f1a-4d7e-9d1c-2f8a6f4b2a10' }),
});

/** A DICOM AE title; leading and trailing spaces are not significant and are trimmed on store. */
export const aeTitleSchema = z
  .string()
  .superRefine((v, ctx) => {
    const problem = aeTitleProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: `AE title ${problem}` });
  })
  .openapi({
    description:
      'DICOM AE title: 1-16 printable ASCII characters, no backslash; surrounding spaces are dropped',
    example: 'CT1',
  });

export const nameSchema = z.string().trim().min(1).max(NAME_MAX_LENGTH);
/** Seconds without a new instance after which a study of the facility is complete. */
export const stablePeriodSecondsSchema = z
  .number()
  .int()
  .min(STABLE_PERIOD_MIN_SECONDS)
  .max(STABLE_PERIOD_MAX_SECONDS)
  .openapi({
    description: 'A study is complete after this many seconds without a new instance',
    example: 60,
  });
/** Titles kept as aliases for a transition; an alias without expiresAt lasts AE_TITLE_ALIAS_DEFAULT_DAYS. */
export const aeTitleAliasesBodySchema = z
  .array(
    z
      .object({
        aeTitle: z.string().openapi({ example: 'OLD_CT' }),
        expiresAt: z.iso.datetime({ offset: true }).optional(),
      })
      .strict(),
  )
  .max(AE_TITLE_ALIASES_MAX)
  .openapi({
    description:
      `Previous AE titles the facility's gateways still accept as the called AE title until expiresAt ` +
      `(default ${AE_TITLE_ALIAS_DEFAULT_DAYS} days, at most ${AE_TITLE_ALIAS_MAX_DAYS}); replaces the list`,
  });
export const emailSchema = z.email().max(320).openapi({ example: 'admin@example.org' });
export const passwordSchema = z.string().min(PASSWORD_MIN_LENGTH).max(PASSWORD_MAX_LENGTH);
export const roleSchema = z.enum(userRoles);

const isoTime = z.iso.datetime({ offset: true });

export const facilitySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    aeTitle: z.string(),
    /** Previous titles the facility's gateways still accept until their expiry. */
    aeTitleAliases: z.array(z.object({ aeTitle: z.string(), expiresAt: isoTime })),
    stablePeriodSeconds: z.number().int(),
    /** Overrides of the group's gateway settings for this facility's gateways. */
    gateway: gatewaySettingsSchema,
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .openapi('Facility');

export function facilityDto(f: FacilityRow): z.infer<typeof facilitySchema> {
  return {
    id: f.id,
    name: f.name,
    aeTitle: f.aeTitle,
    aeTitleAliases: activeAeTitleAliases(f.aeTitleAliases),
    stablePeriodSeconds: f.stablePeriodSeconds,
    gateway: f.gatewaySettings,
    createdAt: f.createdAt.toISOString(),
    updatedAt: f.updatedAt.toISOString(),
  };
}

export const gatewaySchema = z
  .object({
    id: z.uuid(),
    facility: z.object({ id: z.uuid(), name: z.string(), aeTitle: z.string() }),
    name: z.string().openapi({
      description: "Display name, unique within the facility; default: the facility's name and the host name",
    }),
    hostname: z.string(),
    version: z.string().openapi({ description: 'Agent software version' }),
    enrolledAt: isoTime,
    lastSeenAt: isoTime.nullable().openapi({
      description:
        'The last time the gateway was heard from (a heartbeat or a request); never before lastHeartbeatAt',
    }),
    revokedAt: isoTime.nullable(),
    configVersion: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Latest desired config version; null before the first' }),
    status: z.enum(GATEWAY_STATUSES).openapi({
      description:
        'online, degraded (the latest heartbeat has a warning or error condition) or offline (channel ' +
        'closed, heartbeats missing, or never connected). A revoked gateway keeps the status its ' +
        'channel left (offline once closed); revokedAt says it is revoked.',
    }),
    statusSince: isoTime,
    lastHeartbeatAt: isoTime.nullable(),
    appliedConfigVersion: z.number().int().nullable().openapi({
      description: 'The config version the gateway reports in force; null before its first heartbeat',
    }),
    conditions: z.array(conditionSchema).openapi({ description: 'Conditions of the latest health report' }),
  })
  .openapi('Gateway');

export function gatewayDto(g: GatewayView): z.infer<typeof gatewaySchema> {
  return {
    id: g.id,
    facility: g.facility,
    name: g.name,
    hostname: g.hostname,
    version: g.version,
    enrolledAt: g.enrolledAt.toISOString(),
    lastSeenAt: g.lastSeenAt?.toISOString() ?? null,
    revokedAt: g.revokedAt?.toISOString() ?? null,
    configVersion: g.configVersion,
    status: g.status,
    statusSince: g.statusSince.toISOString(),
    lastHeartbeatAt: g.lastHeartbeatAt?.toISOString() ?? null,
    appliedConfigVersion: g.appliedConfigVersion,
    conditions: g.conditions,
  };
}

/**
 * Gateway settings as a request body: port, allowedCallingAeTitles, maxAssociations, upload
 * {parallelism, bandwidthBytesPerSecond, schedule, retentionHours, compression}, peers [{name, aeTitle, host, port,
 * tls}] (the DICOM nodes the gateway may dial); every field optional, unknown ones refused. A facility
 * value wins over the group value, which wins over the defaults. (The shared zod instance has no
 * `.openapi()`, so the schema is used as it is.)
 */
export const gatewaySettingsBodySchema = gatewaySettingsSchema;

export const userSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    role: roleSchema,
    isOperator: z.boolean(),
    createdAt: isoTime,
    deactivatedAt: isoTime.nullable(),
  })
  .openapi('User');

export function userDto(u: UserView): z.infer<typeof userSchema> {
  return {
    id: u.id,
    email: u.email,
    role: u.role,
    isOperator: u.isOperator,
    createdAt: u.createdAt.toISOString(),
    deactivatedAt: u.deactivatedAt?.toISOString() ?? null,
  };
}

/** A JSON request or response body with `schema`. */
export const json = <T>(schema: T) => ({ 'application/json': { schema } });
