import { FerryError } from '@ferry/shared';
import { and, eq } from 'drizzle-orm';
import { burnPasswordCheck, hashPassword, needsRehash, verifyPassword } from '../auth/password.js';
import { issueSessionToken } from '../auth/session.js';
import type { Ctx } from '../context.js';
import { users } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { countPasswordAttempt, forgetPasswordAttempts, recordPasswordFailure } from './login-throttle.js';

export interface LoginResult {
  token: string;
  user: { id: string; groupId: string; role: string; isOperator: boolean; passwordMustChange: boolean };
}

export async function loginUser({
  ctx,
  input,
  sessionSecret,
}: {
  ctx: Ctx;
  input: { email: string; password: string };
  sessionSecret: Uint8Array;
}): Promise<LoginResult> {
  const email = input.email.trim().toLowerCase();
  await countPasswordAttempt(ctx, email);
  const [user] = await ctx.db.select().from(users).where(eq(users.email, email));
  const ok = user && !user.deactivatedAt ? await verifyPassword(input.password, user.passwordHash) : false;
  if (!user || !ok) {
    if (!user) await burnPasswordCheck(input.password);
    await recordPasswordFailure(ctx, email);
    await writeAudit(ctx.db, ctx, {
      action: 'auth.login_failed',
      groupId: user?.groupId,
      targetType: 'user',
      ...(user ? { targetId: user.id } : {}),
    });
    throw new FerryError('auth.bad_credentials', 'wrong e-mail address or password');
  }
  await forgetPasswordAttempts(ctx, email);
  // The one moment the clear password is at hand: bring a hash made with older parameters up to date.
  if (needsRehash(user.passwordHash)) {
    const passwordHash = await hashPassword(input.password);
    await ctx.db
      .update(users)
      .set({ passwordHash })
      .where(and(eq(users.id, user.id), eq(users.passwordHash, user.passwordHash)));
  }
  const token = await issueSessionToken(sessionSecret, {
    sub: user.id,
    grp: user.groupId,
    role: user.role,
    op: user.isOperator,
    sv: user.sessionVersion,
  });
  await writeAudit(
    ctx.db,
    {
      ...ctx,
      actor: {
        kind: 'user',
        userId: user.id,
        groupId: user.groupId,
        role: user.role,
        isOperator: user.isOperator,
      },
    },
    {
      action: 'auth.login',
      targetType: 'user',
      targetId: user.id,
      ...(user.passwordMustChange ? { details: { passwordMustChange: true } } : {}),
    },
  );
  return {
    token,
    user: {
      id: user.id,
      groupId: user.groupId,
      role: user.role,
      isOperator: user.isOperator,
      passwordMustChange: user.passwordMustChange,
    },
  };
}
