import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  agentJsonSettingsShape,
  GATEWAY_CONFIG_DEFAULTS,
  gatewayConfigV2Schema,
  gatewaySettingsSchema,
} from './gateway-config.js';
import { PUSHED_SETTINGS, type PushedSetting } from './gateway-settings.js';

const rows = Object.entries(PUSHED_SETTINGS) as [string, PushedSetting][];

/** The value at a setting's name (`upload.parallelism`) in a config-shaped object. */
function at(value: unknown, name: string): unknown {
  return name
    .split('.')
    .reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);
}

/** The schema a derived object schema holds for a setting's name. */
function schemaAt(schema: z.ZodType, name: string): z.ZodType | undefined {
  return name.split('.').reduce<z.ZodType | undefined>((s, key) => {
    const inner = (s as z.ZodType & { unwrap?: () => z.ZodType })?.unwrap?.() ?? s;
    return (inner as z.ZodObject | undefined)?.shape?.[key];
  }, schema);
}

const fullConfig = { ...GATEWAY_CONFIG_DEFAULTS, aeTitle: 'GW' };

describe('the pushed settings table', () => {
  it.each(rows)('%s: its default passes its schema and is what the derived defaults hold', (name, row) => {
    if (row.default === undefined) {
      expect(row.appliesTo).toBe('facility');
      expect(at(GATEWAY_CONFIG_DEFAULTS, name)).toBeUndefined();
      return;
    }
    expect(row.schema.parse(row.default)).toEqual(row.default);
    expect(at(GATEWAY_CONFIG_DEFAULTS, name)).toEqual(row.default);
  });

  it.each(rows)(
    '%s: the pushed config carries it, and a group or facility may set it as the table says',
    (name, row) => {
      expect(schemaAt(gatewayConfigV2Schema, name)).toBeDefined();
      expect(gatewayConfigV2Schema.parse(fullConfig)).toEqual(fullConfig);
      expect(schemaAt(gatewaySettingsSchema, name) !== undefined).toBe(
        row.appliesTo === 'group and facility',
      );
    },
  );

  it.each(rows)(
    '%s: agent.json reads it, its default when absent (the AE title and stable period aside)',
    (name, row) => {
      const agentJson = at(agentJsonSettingsShape, name) as z.ZodType;
      expect(agentJson).toBeDefined();
      const absent = agentJson.parse(undefined);
      if (name === 'aeTitle') expect(absent).toBe('GATEWAY');
      else if (name === 'stablePeriodSeconds') expect(absent).toBeUndefined();
      else expect(absent).toEqual(row.default);
      if (row.default !== undefined) expect(agentJson.parse(row.default)).toEqual(row.default);
    },
  );

  it.each(rows.filter(([, row]) => row.bounds))(
    '%s: its bounds hold in the pushed config, a facility and agent.json',
    (name, row) => {
      const { min, max, integer } = row.bounds!;
      const checks = [
        row.schema,
        schemaAt(gatewayConfigV2Schema, name)!,
        at(agentJsonSettingsShape, name) as z.ZodType,
      ];
      if (row.appliesTo === 'group and facility') checks.push(schemaAt(gatewaySettingsSchema, name)!);
      for (const schema of checks) {
        expect(schema.safeParse(min).success).toBe(true);
        expect(schema.safeParse(min - 1).success).toBe(false);
        if (max !== undefined) {
          expect(schema.safeParse(max).success).toBe(true);
          expect(schema.safeParse(max + 1).success).toBe(false);
        }
        expect(schema.safeParse(min + 0.5).success).toBe(!integer && (max === undefined || min + 0.5 <= max));
      }
    },
  );

  it('a setting newer than stored versions is read as its default when a version lacks it', () => {
    for (const [name, row] of rows.filter(([, r]) => r.olderVersionsLackIt)) {
      const { [name]: _, ...older } = fullConfig as Record<string, unknown>;
      expect(at(gatewayConfigV2Schema.parse(older), name)).toEqual(row.default);
    }
  });
});
