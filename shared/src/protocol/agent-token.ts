/**
 * The rules both sides hold agent JWTs to. The agent signs one per call with its own clock; the control
 * plane refuses one issued longer ago than the maximum age, or further ahead of its clock than the skew
 * allowance. The agent's clock-skew health condition turns to an error at that allowance, because past
 * it every call it makes is refused.
 */
export const AGENT_TOKEN_MAX_SECONDS = 5 * 60;
export const AGENT_TOKEN_CLOCK_SKEW_SECONDS = 60;
