/**
 * One integer protocol version shared by agent and control plane, with a dated history.
 * 1 (2026-11-28): spool object format v1 and the agent.json contract.
 */
export const PROTOCOL_VERSION = 1;
