import type { HealthReport } from '@ferry/shared';
import { describeSource, gatewayLocalOverrides } from '../../../services/local-overrides.js';
import { StackTable } from '../../components/stack-table.js';
import { show } from './gateway-facts.js';

/**
 * Settings the gateway runs with that differ from its desired config (config.local_override): which
 * setting, the desired value, the value in force and why. Nothing when they agree.
 */
export function LocalOverrides({
  g,
}: {
  g: { configVersion: number | null; config: Record<string, unknown> | null; health: HealthReport | null };
}) {
  const overrides = gatewayLocalOverrides(g);
  if (overrides.length === 0) return null;
  return (
    <div class="local-overrides">
      <p class="notice bad" role="note">
        The gateway runs with local settings that win over its desired config. Remove the flag or the
        agent.json value on the gateway, or make the desired config match.
      </p>
      <StackTable label="Local overrides" columns={['Setting', 'Desired', 'In force', 'Why']}>
        {overrides.map((o) => (
          <tr data-override={o.setting}>
            <td data-label="Setting">
              <code>{o.setting}</code>
            </td>
            <td data-label="Desired">
              <code>{show(o.desired)}</code>
            </td>
            <td data-label="In force">
              <code>{show(o.inForce)}</code>
            </td>
            <td data-label="Why">{describeSource(o)}</td>
          </tr>
        ))}
      </StackTable>
    </div>
  );
}
