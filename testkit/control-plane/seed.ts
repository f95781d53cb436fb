/**
 * Rows a test starts from, inserted directly in the app's database: groups with their admin and
 * reader (each with a real password and session token), facilities, and enrolled gateways that sign
 * their own agent tokens.
 */
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { JWK } from 'jose';
import type { AppDeps } from '../../control-plane/src/app-deps.js';
import { hashPassword, setPasswordCost } from '../../control-plane/src/auth/password.js';
import { issueSessionToken } from '../../control-plane/src/auth/session.js';
import type { Database, Db } from '../../control-plane/src/db/client.js';
import * as schema from '../../control-plane/src/db/schema/index.js';
import { nextId, TEST_PUBLIC_URL } from './names.js';
import { type AgentTokenOptions, newAgentKeyPair, signAgentToken } from './requests.js';

/** What seeding needs of a test app (a TestApp is one). */
export interface SeedTarget {
  database: Database;
  deps: Pick<AppDeps, 'sessionSecret' | 'publicUrl'>;
}

export interface SeededUser {
  id: string;
  email: string;
  password: string;
  /** A valid session token (HS256, signed with the app's real session secret). */
  token: string;
}

export interface SeededGroup {
  groupId: string;
  name: string;
  /** The group's admin; a platform operator when seeded with `{ operator: true }`. */
  admin: SeededUser;
  reader: SeededUser;
}

export interface TestGateway {
  gatewayId: string;
  facilityId: string;
  groupId: string;
  privateJwk: JWK;
  publicJwk: JWK;
  /** Signs an agent JWT the way agents do: EdDSA, sub = gateway id, aud = public URL, iat, exp, jti. */
  token(opts?: AgentTokenOptions): Promise<string>;
  /** Marks the gateway revoked, directly in the database. */
  revoke(): Promise<void>;
}

// The cost the control plane would take from FERRY_PASSWORD_COST (vitest.config.ts lowers it for tests;
// benches leave it unset and hash at production cost).
if (process.env.FERRY_PASSWORD_COST) setPasswordCost(Number(process.env.FERRY_PASSWORD_COST));

/** Every seeded user of this process shares one password: scrypt at production cost is a third of a second. */
export const SEED_PASSWORD = `ferry-test-${randomBytes(12).toString('base64url')}`;
let seedHashP: Promise<string> | undefined;
function seedPasswordHash(): Promise<string> {
  seedHashP ??= hashPassword(SEED_PASSWORD);
  return seedHashP;
}

async function insertUser(
  t: SeedTarget,
  groupId: string,
  slug: string,
  role: 'admin' | 'reader',
  isOperator: boolean,
): Promise<SeededUser> {
  const email = `${role}-${slug}@example.test`;
  const [row] = await t.database.db
    .insert(schema.users)
    .values({ groupId, email, passwordHash: await seedPasswordHash(), role, isOperator })
    .returning({ id: schema.users.id, sessionVersion: schema.users.sessionVersion });
  const id = row!.id;
  const token = await issueSessionToken(t.deps.sessionSecret, {
    sub: id,
    grp: groupId,
    role,
    op: isOperator,
    sv: row!.sessionVersion,
  });
  return { id, email, password: SEED_PASSWORD, token };
}

/**
 * One more user (with the shared seed password, not a temporary one, and a session token) in an
 * existing group: for tests whose calls end the caller's own sessions.
 */
export function seedUser(
  t: SeedTarget,
  groupId: string,
  role: 'admin' | 'reader',
  opts: { operator?: boolean } = {},
): Promise<SeededUser> {
  return insertUser(t, groupId, nextId(), role, opts.operator ?? false);
}

/** A group with an admin and a reader (what TestApp.seedGroup does). */
export async function seedGroup(
  t: SeedTarget,
  name?: string,
  opts: { operator?: boolean } = {},
): Promise<SeededGroup> {
  const slug = nextId();
  const groupName = name ?? `Group ${slug}`;
  const [group] = await t.database.db
    .insert(schema.groups)
    .values({ name: groupName })
    .returning({ id: schema.groups.id });
  const groupId = group!.id;
  const admin = await insertUser(t, groupId, slug, 'admin', opts.operator ?? false);
  const reader = await insertUser(t, groupId, slug, 'reader', false);
  return { groupId, name: groupName, admin, reader };
}

/** A group whose admin is also a platform operator. */
export function seedOperator(
  t: { seedGroup(name?: string, opts?: { operator?: boolean }): Promise<SeededGroup> },
  name?: string,
): Promise<SeededGroup> {
  return t.seedGroup(name, { operator: true });
}

/** A facility of `group`, inserted directly (unique name and AE title unless given). */
export function seedFacility(
  t: SeedTarget,
  group: Pick<SeededGroup, 'groupId'>,
  opts: { name?: string; aeTitle?: string } = {},
): Promise<{ facilityId: string; name: string; aeTitle: string }> {
  return insertFacility(t.database.db, group.groupId, opts);
}

async function insertFacility(
  db: Db,
  groupId: string,
  opts: { name?: string; aeTitle?: string } = {},
): Promise<{ facilityId: string; name: string; aeTitle: string }> {
  const slug = nextId();
  const name = opts.name ?? `Facility ${slug}`;
  const aeTitle = opts.aeTitle ?? `F${slug}`.slice(0, 16).toUpperCase();
  const [facility] = await db
    .insert(schema.facilities)
    .values({ groupId, name, aeTitle })
    .returning({ id: schema.facilities.id });
  return { facilityId: facility!.id, name, aeTitle };
}

// ---------------------------------------------------------------------------------------------
// Gateways

/**
 * Registers a gateway directly in the database (a new facility in `group` unless a `facilityId` is
 * given, on the group argument or in `opts`), with a fresh Ed25519 key pair, and returns a signer for its agent tokens.
 */
export async function enrollTestGateway(
  t: SeedTarget,
  group: Pick<SeededGroup, 'groupId'> & { facilityId?: string },
  opts: { facilityId?: string; hostname?: string; name?: string } = {},
): Promise<TestGateway> {
  const facilityId = opts.facilityId ?? group.facilityId;
  return insertTestGateway(t.database.db, group.groupId, {
    ...opts,
    ...(facilityId ? { facilityId } : {}),
    publicUrl: t.deps.publicUrl,
  });
}

/** As enrollTestGateway, on any drizzle handle (benches use it against a server's database). */
export async function insertTestGateway(
  db: Db,
  groupId: string,
  opts: { facilityId?: string; hostname?: string; name?: string; publicUrl?: string } = {},
): Promise<TestGateway> {
  const slug = nextId();
  const facilityId = opts.facilityId ?? (await insertFacility(db, groupId)).facilityId;
  const keys = await newAgentKeyPair();
  const [gw] = await db
    .insert(schema.gateways)
    .values({
      groupId,
      facilityId,
      publicKey: keys.publicJwk,
      hostname: opts.hostname ?? `gw-${slug}`,
      name: opts.name ?? `Gateway ${slug}`,
      version: '0.0.0-test',
    })
    .returning({ id: schema.gateways.id });
  const gatewayId = gw!.id;
  const defaultAudience = opts.publicUrl ?? TEST_PUBLIC_URL;
  return {
    gatewayId,
    facilityId,
    groupId,
    privateJwk: keys.privateJwk,
    publicJwk: keys.publicJwk,
    token: (o = {}) => signAgentToken(keys.privateKey, gatewayId, { ...o, defaultAudience }),
    revoke: async () => {
      await db
        .update(schema.gateways)
        .set({ revokedAt: new Date() })
        .where(eq(schema.gateways.id, gatewayId));
    },
  };
}
