import { z } from 'zod';
import { PUSHED_SETTINGS, type PushedSetting, type PushedSettingName } from './gateway-settings.js';

/**
 * The desired config of one gateway as the control plane pushes it over the channel, and the
 * settings a group or facility stores, all derived from the PUSHED_SETTINGS table. Its fields are
 * agent.json fields, so the agent persists an applied version as its last-known-good agent.json.
 */

type Rows = typeof PUSHED_SETTINGS;
/** The object fields nest in (`upload.parallelism` is `parallelism` in `upload`). */
type GroupName = PushedSettingName extends infer N ? (N extends `${infer G}.${string}` ? G : never) : never;
type TopName = Exclude<PushedSettingName, `${string}.${string}`>;
type FieldsOf<G extends string, M extends Record<PushedSettingName, unknown>> = {
  [N in PushedSettingName as N extends `${G}.${infer F}` ? F : never]: M[N];
};
type SchemaOf<R> = R extends { schema: infer S extends z.ZodType } ? S : never;
type PushedSchemaOf<R> = R extends { olderVersionsLackIt: true } ? z.ZodDefault<SchemaOf<R>> : SchemaOf<R>;
type AgentJsonSchemaOf<R> = R extends { agentJson: infer A extends z.ZodType }
  ? A
  : z.ZodDefault<SchemaOf<R>>;
type InGroupAndFacility = {
  [N in PushedSettingName]: Rows[N]['appliesTo'] extends 'group and facility' ? N : never;
}[PushedSettingName];

const GROUPS = new Set(Object.keys(PUSHED_SETTINGS).flatMap((name) => name.split('.').slice(0, -1)));

/**
 * `pick` of each row, nested as the config nests them (a group's fields made one value by `group`),
 * in table order; rows `pick` leaves undefined are left out.
 */
function nest<T, G>(
  pick: (row: PushedSetting, name: PushedSettingName) => T | undefined,
  group: (fields: Record<string, T>) => G,
): Record<string, T | G> {
  const flat: Record<string, T | Record<string, T>> = {};
  for (const [name, row] of Object.entries(PUSHED_SETTINGS) as [PushedSettingName, PushedSetting][]) {
    const value = pick(row, name);
    if (value === undefined) continue;
    const [head, field] = name.split('.') as [string, string | undefined];
    if (field === undefined) flat[head] = value;
    else flat[head] = { ...(flat[head] as Record<string, T> | undefined), [field]: value };
  }
  return Object.fromEntries(
    Object.entries(flat).map(([k, v]) => [k, GROUPS.has(k) ? group(v as Record<string, T>) : (v as T)]),
  );
}

type PushedShape = { [N in TopName]: PushedSchemaOf<Rows[N]> } & {
  [G in GroupName]: z.ZodObject<
    FieldsOf<G, { [N in PushedSettingName]: PushedSchemaOf<Rows[N]> }>,
    z.core.$strict
  >;
};

export const gatewayConfigV2Schema = z
  .object(
    nest(
      (row) => (row.olderVersionsLackIt ? row.schema.default(row.default) : row.schema),
      (fields) => {
        const group = z.object(fields).strict();
        // A group whose every setting older versions lack (storageCommitment) is absent from them too.
        return Object.values(fields).every((f) => f instanceof z.ZodDefault) ? group.prefault({}) : group;
      },
    ) as PushedShape,
  )
  .strict();
/** A complete, valid desired gateway config. */
export type GatewayDesiredConfig = z.infer<typeof gatewayConfigV2Schema>;

export const gatewayUploadConfigSchema = gatewayConfigV2Schema.shape.upload;

/** Defaults every group starts from (the agent's own agent.json defaults). */
export const GATEWAY_CONFIG_DEFAULTS = nest(
  (row) => row.default,
  (fields) => fields,
) as Omit<GatewayDesiredConfig, 'aeTitle'>;

type SettingsShape = { [N in Extract<TopName, InGroupAndFacility>]: z.ZodOptional<SchemaOf<Rows[N]>> } & {
  [G in GroupName]: z.ZodOptional<
    z.ZodObject<
      FieldsOf<
        G,
        { [N in PushedSettingName]: N extends InGroupAndFacility ? z.ZodOptional<SchemaOf<Rows[N]>> : never }
      >,
      z.core.$strict
    >
  >;
};

/**
 * What a group (defaults for all its gateways) or a facility (overrides for its gateways) may set.
 * Every field is optional; a facility's value wins over the group's, which wins over the defaults. A
 * list (peers) is replaced whole: a facility's peers are not added to its group's.
 */
export const gatewaySettingsSchema = z
  .object(
    nest(
      (row) => (row.appliesTo === 'group and facility' ? row.schema.optional() : undefined),
      (fields) => z.object(fields).strict().optional(),
    ) as SettingsShape,
  )
  .strict();
export type GatewaySettings = z.infer<typeof gatewaySettingsSchema>;

/**
 * The facility's own fields of its gateways' config (its AE title, its stable period); one whose row
 * has a default (its AE title aliases) may be left out and is then the default.
 */
export type FacilityGatewayFields = Pick<
  GatewayDesiredConfig,
  Exclude<TopName, InGroupAndFacility | 'aeTitleAliases'> & keyof GatewayDesiredConfig
> &
  Partial<Pick<GatewayDesiredConfig, 'aeTitleAliases'>>;

/** Defaults < group settings < facility settings, plus the facility's own fields. */
export function mergeGatewayConfig(
  facility: FacilityGatewayFields,
  group: GatewaySettings,
  own: GatewaySettings,
): GatewayDesiredConfig {
  const d: Record<string, unknown> = GATEWAY_CONFIG_DEFAULTS;
  const g: Record<string, unknown> = group;
  const o: Record<string, unknown> = own;
  const f: Record<string, unknown> = facility;
  const rows: Record<string, PushedSetting> = PUSHED_SETTINGS;
  const merged: Record<string, unknown> = {};
  for (const name of Object.keys(gatewayConfigV2Schema.shape)) {
    if (GROUPS.has(name))
      merged[name] = { ...(d[name] as object), ...(g[name] as object), ...(o[name] as object) };
    else if (rows[name]?.appliesTo === 'facility') merged[name] = f[name] ?? d[name];
    else merged[name] = o[name] ?? g[name] ?? d[name];
  }
  return merged as GatewayDesiredConfig;
}

/**
 * The config as an agent speaking protocol `v` can read it: the settings added after `v`
 * (`sinceProtocol`) are left out, and that agent runs its own default for them.
 */
export function configForProtocol<C extends Record<string, unknown>>(config: C, v: number): C {
  const rows: Record<string, PushedSetting> = PUSHED_SETTINGS;
  const newer = Object.keys(rows).filter((name) => (rows[name]!.sinceProtocol ?? 0) > v);
  if (newer.length === 0) return config;
  const out: Record<string, unknown> = { ...config };
  for (const name of newer) {
    const [head, field] = name.split('.') as [string, string | undefined];
    if (field === undefined) delete out[head];
    else if (out[head] && typeof out[head] === 'object') {
      const { [field]: _dropped, ...rest } = out[head] as Record<string, unknown>;
      out[head] = rest;
    }
  }
  return out as C;
}

type AgentJsonShape = { [N in TopName]: AgentJsonSchemaOf<Rows[N]> } & {
  [G in GroupName]: FieldsOf<G, { [N in PushedSettingName]: AgentJsonSchemaOf<Rows[N]> }>;
};

/**
 * agent.json's schema of each pushed field, with its default (a group's fields left as a shape, for
 * agent/src/config.ts to make its object of).
 */
export const agentJsonSettingsShape = nest(
  (row) => row.agentJson ?? row.schema.default(row.default),
  (fields) => fields,
) as AgentJsonShape;
