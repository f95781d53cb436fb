import type { Ctx } from '../../context.js';
import { validateGatewaySettings } from '../../services/validate-gateway-settings.js';
import type { ParsedSettingsForm } from './gateway-setting-rows.js';

/**
 * Why saving a posted settings form would be refused, per setting ('' for the form as a whole): text
 * that is no value at all, then the save's own schema's reasons (the validation service), joined.
 */
export async function settingsFormProblems(
  ctx: Ctx,
  parsed: ParsedSettingsForm,
  facilityId?: string,
): Promise<Record<string, string>> {
  const { problems } = await validateGatewaySettings({
    ctx,
    input: { settings: parsed.settings, facilityId },
  });
  const out: Record<string, string> = {};
  for (const p of [...parsed.unreadable, ...problems])
    out[p.setting] = out[p.setting] ? `${out[p.setting]}; ${p.message}` : p.message;
  return out;
}

/** "1 gateway", "3 gateways". */
export function gatewaysWord(n: number): string {
  return `${n} gateway${n === 1 ? '' : 's'}`;
}
