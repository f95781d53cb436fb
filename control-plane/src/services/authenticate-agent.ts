import { verifyAgentToken } from '../auth/agent-token.js';
import type { Ctx } from '../context.js';
import type { AgentActor } from './permissions.js';

/**
 * The gateway a self-signed agent token (EdDSA) names, verified against its registered key. Records
 * the token's use (a replayed jti is refused), the gateway's last contact (at most every 5 s) and, once the agent signs
 * with a rotated key, the end of the previous key: the state changes of an agent's authentication,
 * made here for the edge (auth/agent-token.ts does the checks).
 */
export function authenticateAgent({
  ctx,
  input,
}: {
  ctx: Ctx;
  input: { token: string; audience: string };
}): Promise<AgentActor> {
  return verifyAgentToken(ctx.db, input.token, input.audience);
}
