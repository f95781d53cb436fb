import { describe, expect, it } from 'vitest';
import { livenessIntervalMs } from '../jobs/gateway-liveness.js';
import { deriveGatewayStatus } from './derive-gateway-status.js';

describe('gateway status from a heartbeat', () => {
  it('is degraded with any warning or error, online otherwise', () => {
    expect(deriveGatewayStatus([])).toBe('online');
    expect(deriveGatewayStatus([{ severity: 'info' }])).toBe('online');
    expect(deriveGatewayStatus([{ severity: 'info' }, { severity: 'warning' }])).toBe('degraded');
    expect(deriveGatewayStatus([{ severity: 'error' }])).toBe('degraded');
  });

  it('checks liveness every quarter heartbeat, at least every 0.25 s', () => {
    expect(livenessIntervalMs(30)).toBe(7500);
    expect(livenessIntervalMs(2)).toBe(500);
    expect(livenessIntervalMs(0.5)).toBe(250);
    expect(livenessIntervalMs(0.1)).toBe(250);
  });
});
