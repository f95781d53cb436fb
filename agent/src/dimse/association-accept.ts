import { activeAeTitleAliases } from '@ferry/shared';
import type { AssociateRequest, ContextDecision } from './associate.js';
import type { IdentityVerdict } from './identity-check.js';
import { APPLICATION_CONTEXT, RejectReason, RejectResult, RejectSource } from './pdu-types.js';
import type { AssociationPolicy } from './policy.js';
import { decideContext } from './sop-classes.js';

export interface AssociationRejection {
  accepted: false;
  result: number;
  source: number;
  reason: number;
  /** Logged with the rejection: it names what was wrong, for the admin reading the gateway log. */
  why: string;
}

export interface AssociationAcceptance {
  accepted: true;
  decisions: ContextDecision[];
  /** The server response of the 0x59 sub-item the A-ASSOCIATE-AC carries, when one is owed. */
  identityResponse?: Buffer;
  /** The alias the sender called instead of the AE title (counted, so the admin sees who still uses it). */
  alias?: string;
}

export type AssociationVerdict = AssociationRejection | AssociationAcceptance;

function rejection(result: number, source: number, reason: number, why: string): AssociationRejection {
  return { accepted: false, result, source, reason, why };
}

/**
 * Decides an A-ASSOCIATE-RQ against the policy, in the order PS3.8 lists the reasons. `admit` runs
 * last, only for a request the policy allows, because it takes a slot: a reason refuses it as busy.
 */
export function judgeAssociateRq(
  req: AssociateRequest,
  policy: AssociationPolicy,
  admit: (callingAeTitle: string) => string | undefined,
  /** The user identity as checkUserIdentity judged it (PS3.7 D.3.3.7.3: refused as reason 1). */
  identity: IdentityVerdict = { ok: true },
  now: number = Date.now(),
): AssociationVerdict {
  if (req.applicationContext !== APPLICATION_CONTEXT) {
    return rejection(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.ApplicationContextNotSupported,
      `application context ${req.applicationContext} not supported`,
    );
  }
  if ((req.protocolVersion & 0x0001) === 0) {
    return rejection(
      RejectResult.Permanent,
      RejectSource.ServiceProviderAcse,
      RejectReason.ProtocolVersionNotSupported,
      `protocol version ${req.protocolVersion} not supported`,
    );
  }
  const alias = calledAlias(req.calledAeTitle, policy, now);
  if (req.calledAeTitle !== policy.aeTitle && alias === undefined) {
    return rejection(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.CalledAeNotRecognized,
      `called AE title "${req.calledAeTitle}" is not "${policy.aeTitle}"`,
    );
  }
  const allowed = policy.allowedCallingAeTitles;
  if (allowed.length > 0 && !allowed.includes(req.callingAeTitle)) {
    return rejection(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.CallingAeNotRecognized,
      `calling AE title "${req.callingAeTitle}" is not on the allow-list`,
    );
  }
  if (!identity.ok) {
    return rejection(
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      RejectReason.NoReasonGiven,
      `user identity refused: ${identity.why}`,
    );
  }
  const busy = admit(req.callingAeTitle);
  if (busy !== undefined) {
    return rejection(
      RejectResult.Transient,
      RejectSource.ServiceProviderPresentation,
      RejectReason.LocalLimitExceeded,
      busy,
    );
  }
  const decisions = req.contexts.map((ctx) => decideContext(ctx, policy));
  return {
    accepted: true,
    decisions,
    ...(identity.response ? { identityResponse: identity.response } : {}),
    ...(alias !== undefined ? { alias } : {}),
  };
}

/** The unexpired alias `called` names; checked at each request, so an alias lapses without a push. */
function calledAlias(called: string, policy: AssociationPolicy, now: number): string | undefined {
  if (called === policy.aeTitle || !policy.aeTitleAliases?.length) return undefined;
  return activeAeTitleAliases(policy.aeTitleAliases, now).find((a) => a.aeTitle === called)?.aeTitle;
}
