import type { Logger } from 'pino';
import type { Db } from './db/client.js';
import type { UserRole } from './db/schema/index.js';

export type Actor =
  | { kind: 'user'; userId: string; groupId: string; role: UserRole; isOperator: boolean }
  | {
      kind: 'agent';
      gatewayId: string;
      groupId: string;
      facilityId: string;
      /** Which registered key signed the agent's token; set by verifyAgentToken (key rotation needs it). */
      signedWith?: 'current' | 'previous';
    }
  | { kind: 'system' };

/** What every service receives: the acting principal and tenant come from here, never from input. */
export interface Ctx {
  db: Db;
  actor: Actor;
  requestId: string;
  ip: string | undefined;
  log: Logger;
}

/** The context of work the control plane does on its own (jobs, bootstrap, seeding): the system actor, no client. */
export function systemCtx(db: Db, log: Logger, requestId: string): Ctx {
  return { db, actor: { kind: 'system' }, requestId, ip: undefined, log };
}
