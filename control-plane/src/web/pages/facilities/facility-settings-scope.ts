import { type GatewaySettings, mergeGatewayConfig } from '@ferry/shared';
import type { FacilityRow } from '../../../services/list-facilities.js';
import { settingValue } from '../../components/gateway-setting-rows.js';
import { gatewaysWord } from '../../components/gateway-settings-check.js';
import type { SettingsScope } from '../../components/gateway-settings-form.js';

/** A facility's scope: its overrides over its group's settings (and the defaults), reaching its gateways. */
export function facilityScope(
  facility: FacilityRow,
  groupSettings: GatewaySettings,
  gateways: number,
): SettingsScope {
  const fromGroup = mergeGatewayConfig(
    { aeTitle: facility.aeTitle, stablePeriodSeconds: facility.stablePeriodSeconds },
    groupSettings,
    {},
  );
  return {
    kind: 'facility',
    own: facility.gatewaySettings ?? {},
    inherited: (name) => settingValue(fromGroup, name),
    reach: () => `A change reaches this facility's ${gatewaysWord(gateways)}.`,
  };
}
