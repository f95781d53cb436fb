import type { GatewaySettings } from '@ferry/shared';
import type { UserActor } from './permissions.js';

/**
 * Gateway settings as `actor` may read them. A reader sees the usernames of a userIdentity
 * requirement but not their password hashes: a scrypt hash of a weak DICOM password can be cracked
 * offline, and only admins, who set them, need them back (to PUT the settings again whole).
 */
export function gatewaySettingsFor(actor: UserActor, settings: GatewaySettings): GatewaySettings {
  const identity = settings.userIdentity;
  if (actor.role === 'admin' || identity?.require !== 'username-password') return settings;
  const users = identity.users.map(({ username }) => ({ username }));
  return { ...settings, userIdentity: { ...identity, users } as typeof identity };
}
