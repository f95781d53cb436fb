import type { AgentActor } from './permissions.js';

/** One mebibyte: big enough to show the path carries real bodies, small enough for a slow uplink. */
export const UPLOAD_TEST_BYTES = 1024 * 1024;
export const UPLOAD_TEST_URL_SECONDS = 300;

/**
 * The throwaway object of an upload test. Group and gateway come from the caller's token, so a
 * gateway can only ever write and read back under its own diagnostics prefix.
 */
export function uploadTestKey(agent: AgentActor, testId: string): string {
  return `g/${agent.groupId}/diagnostics/${agent.gatewayId}/${testId}.bin`;
}

/** Whether `key` is the object of upload test `testId` (of any gateway): see uploadTestKey. */
export function isUploadTestKey(key: string, testId: string): boolean {
  const [g, groupId, diagnostics, gatewayId, name, ...rest] = key.split('/');
  return (
    g === 'g' &&
    diagnostics === 'diagnostics' &&
    !!groupId &&
    !!gatewayId &&
    name === `${testId}.bin` &&
    rest.length === 0
  );
}
