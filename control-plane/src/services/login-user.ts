import { FerryError } from '@ferry/shared';
import { eq } from 'drizzle-orm';
import { burnPasswordCheck, verifyPassword } from '../auth/password.js';
import { issueSessionToken } from '../auth/session.js';
import type { Ctx } from '../context.js';
import { users } from '../db/schema/index.js';
import { writeAudit } from './audit.js';
import { clearRateLimit, hitRateLimit, LONGEST_RATE_LIMIT_WINDOW_MS } from './rate-limit.js';

const WINDOW_MS = LONGEST_RATE_LIMIT_WINDOW_MS;
const PER_ACCOUNT = 10;
const PER_ADDRESS = 50;

export async function loginUser({
  ctx,
  input,
  sessionSecret,
}: {
  ctx: Ctx;
  input: { email: string; password: string };
  sessionSecret: Uint8Array;
}): Promise<{ token: string; user: { id: string; groupId: string; role: string; isOperator: boolean } }> {
  const email = input.email.trim().toLowerCase();
  const accountKey = `login:account:${email}`;
  await hitRateLimit(ctx.db, accountKey, PER_ACCOUNT, WINDOW_MS);
  if (ctx.ip) await hitRateLimit(ctx.db, `login:address:${ctx.ip}`, PER_ADDRESS, WINDOW_MS);
  const [user] = await ctx.db.select().from(users).where(eq(users.email, email));
  const ok = user && !user.deactivatedAt ? await verifyPassword(input.password, user.passwordHash) : false;
  if (!user || !ok) {
    if (!user) await burnPasswordCheck(input.password);
    await writeAudit(ctx.db, ctx, {
      action: 'auth.login_failed',
      groupId: user?.groupId,
      targetType: 'user',
      ...(user ? { targetId: user.id } : {}),
    });
    throw new FerryError('auth.bad_credentials', 'wrong e-mail address or password');
  }
  await clearRateLimit(ctx.db, accountKey);
  const token = await issueSessionToken(sessionSecret, {
    sub: user.id,
    grp: user.groupId,
    role: user.role,
    op: user.isOperator,
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
    },
  );
  return {
    token,
    user: { id: user.id, groupId: user.groupId, role: user.role, isOperator: user.isOperator },
  };
}
