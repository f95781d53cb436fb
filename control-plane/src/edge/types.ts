import type { AppDeps } from '../app-deps.js';
import type { Actor, Ctx } from '../context.js';

export interface AppEnv {
  Variables: {
    requestId: string;
    actor: Actor;
    deps: AppDeps;
  };
}

export type { Ctx };
