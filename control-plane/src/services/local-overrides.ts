import {
  type Condition,
  GATEWAY_CONFIG_DEFAULTS,
  type HealthReport,
  type LocalFlagSetting,
} from '@ferry/shared';

/** The desired settings a gateway's own (a start flag, its agent.json) can override, as the agent reports them in force. */
const COMPARED = [
  'port',
  'aeTitle',
  'maxAssociations',
  'allowedCallingAeTitles',
  'upload.compression',
] as const;
type Compared = (typeof COMPARED)[number];

/** Why a setting in force differs: a `ferry-agent start` flag, agent.json, or unknown (an agent older than the report). */
export type OverrideSource = 'flag' | 'file' | 'unknown';

export interface LocalOverride {
  setting: Compared;
  desired: unknown;
  inForce: unknown;
  source: OverrideSource;
}

const FLAG: Record<LocalFlagSetting, string> = { port: '--port', aeTitle: '--ae-title' };

/** How the console and the condition say where a value in force came from. */
export function describeSource(o: Pick<LocalOverride, 'setting' | 'source'>): string {
  if (o.source === 'flag') return `command-line flag ${FLAG[o.setting as LocalFlagSetting] ?? ''}`.trim();
  if (o.source === 'file') return 'agent.json on the gateway';
  return 'a local setting (command-line flag or agent.json)';
}

function inForceOf(health: HealthReport, setting: Compared): unknown {
  if (setting === 'port') return health.dicom.port;
  if (setting === 'aeTitle') return health.dicom.aeTitle;
  if (setting === 'upload.compression') return health.compression?.mode;
  return health.inForce?.[setting];
}

/** The desired value; a version stored before `upload.compression` existed is read as its default, as the gateway does. */
function desiredOf(config: Record<string, unknown>, setting: Compared): unknown {
  if (setting !== 'upload.compression') return config[setting];
  const upload = config.upload as Record<string, unknown> | undefined;
  return upload?.compression ?? GATEWAY_CONFIG_DEFAULTS.upload.compression;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Where the settings in force on a gateway differ from the desired config it says it applied. Only when
 * the gateway reports that very version: while a newer one is on its way (or refused) the difference is
 * "not yet applied" or config.rejected, not a local override. A setting the agent does not report
 * (maxAssociations from an older agent) is not compared.
 */
export function localOverridesOf(
  desired: { version: number; config: Record<string, unknown> } | null | undefined,
  health: HealthReport | null | undefined,
): LocalOverride[] {
  if (!desired || !health || health.configVersion !== desired.version) return [];
  const flags = new Set<string>(health.inForce?.flags ?? []);
  const out: LocalOverride[] = [];
  for (const setting of COMPARED) {
    const want = desiredOf(desired.config, setting);
    const have = inForceOf(health, setting);
    if (want === undefined || have === undefined || same(want, have)) continue;
    const source: OverrideSource = flags.has(setting) ? 'flag' : health.inForce ? 'file' : 'unknown';
    out.push({ setting, desired: want, inForce: have, source });
  }
  return out;
}

const show = (v: unknown) => (Array.isArray(v) ? `[${v.join(', ')}]` : String(v));

/** The config.local_override warning for `overrides` (none: undefined), first seen at `since`. */
export function localOverrideCondition(overrides: LocalOverride[], since: string): Condition | undefined {
  if (overrides.length === 0) return undefined;
  const parts = overrides.map(
    (o) => `${o.setting} ${show(o.inForce)} in force, ${show(o.desired)} desired (${describeSource(o)})`,
  );
  const message = `A local setting wins over the desired config: ${parts.join('; ')}.`;
  return {
    code: 'config.local_override',
    severity: 'warning',
    message: message.length > 500 ? `${message.slice(0, 499)}…` : message,
    since,
  };
}

/**
 * Adds config.local_override to each heartbeat of one channel, from the desired config the channel
 * last sent or found at hello; `since` holds while the override does. Agents never send this code, so
 * a report that carries one from elsewhere is left as it is.
 */
export class LocalOverrideWatch {
  #since: string | undefined;

  apply(
    health: HealthReport,
    desired: { version: number; config: Record<string, unknown> } | null | undefined,
    now = new Date(),
  ): HealthReport {
    const overrides = localOverridesOf(desired, health);
    if (overrides.length === 0) {
      this.#since = undefined;
      return health;
    }
    this.#since ??= now.toISOString();
    const condition = localOverrideCondition(overrides, this.#since);
    if (!condition || health.conditions.some((c) => c.code === condition.code)) return health;
    return { ...health, conditions: [...health.conditions.slice(0, 49), condition] };
  }
}

/** The local overrides of a gateway as its page and detail API show them (from its latest config and health). */
export function gatewayLocalOverrides(g: {
  configVersion: number | null;
  config: Record<string, unknown> | null;
  health: HealthReport | null;
}): LocalOverride[] {
  return localOverridesOf(
    g.config && g.configVersion !== null ? { version: g.configVersion, config: g.config } : null,
    g.health,
  );
}
