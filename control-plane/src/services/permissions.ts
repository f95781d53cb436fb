import { FerryError } from '@ferry/shared';
import type { Actor } from '../context.js';

export type UserActor = Extract<Actor, { kind: 'user' }>;
export type AgentActor = Extract<Actor, { kind: 'agent' }>;

export function requireUser(actor: Actor): UserActor {
  if (actor.kind !== 'user') throw new FerryError('auth.forbidden', 'this action needs a signed-in user');
  return actor;
}

export function requireAdmin(actor: Actor): UserActor {
  const user = requireUser(actor);
  if (user.role !== 'admin') throw new FerryError('auth.forbidden', 'this action needs the admin role');
  return user;
}

export function requireOperator(actor: Actor): UserActor {
  const user = requireAdmin(actor);
  if (!user.isOperator) throw new FerryError('auth.forbidden', 'this action needs a platform operator');
  return user;
}

export function requireAgent(actor: Actor): AgentActor {
  if (actor.kind !== 'agent') throw new FerryError('auth.forbidden', 'this action is for enrolled gateways');
  return actor;
}
