/**
 * Tenancy, all at once: one table with a row for every route of the app (API, DICOMweb, console pages,
 * agent routes), built against group A's seeded world and called by callers of other groups:
 *
 * - user and admin rows: group B's admin (the most privileged non-operator), and a platform operator of
 *   group C (the operator flag opens no other group's data);
 * - agent rows: group B's gateway;
 * - operator rows: group B's admin (refused), a platform operator gets in.
 *
 * An addressed resource of A is 404 resource.not_found (or 403 auth.forbidden) for them; a list or
 * search answers them without any of A's identifiers. The same row then succeeds for A's own caller,
 * so every id in the table is real. The table is checked against `app.routes`: a route that has no row
 * and is not listed as public fails the test, and so does a row for a route that no longer exists.
 */
import { CHANNEL_PATH } from '@ferry/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  newAgentKeyPair,
  SEED_PASSWORD,
  type SendResult,
  seedUser,
  send,
} from '../../../testkit/control-plane/harness.js';
import { expectError } from '../../../testkit/control-plane/security-suite.js';
import { seedTenancyWorld, type TenancyWorld } from '../../../testkit/control-plane/tenancy-world.js';

/** Who the route is for: any user of the group, its admins, platform operators, or its gateways. */
type CallerKind = 'user' | 'admin' | 'operator' | 'agent';

/** What a caller of another group gets: `filtered` = in, and nothing of A in the answer. */
type Outsider = 'not_found' | 'forbidden' | 'filtered';

interface Row {
  method: string;
  /** The path pattern exactly as the app registers it (`:param`, Hono style). */
  route: string;
  caller: CallerKind;
  outsider: Outsider;
  /** Path parameters: group A's resources. */
  params?: (w: TenancyWorld) => Record<string, string>;
  /**
   * Path parameters for group B's caller instead: B's own parent resource with A's child in it (B's
   * gateway with A's diagnostic, B's study with A's series). Only B is asked (nobody else owns the parent).
   */
  underOwnParent?: (w: TenancyWorld) => Record<string, string>;
  query?: (w: TenancyWorld) => string;
  /** JSON body; `n` is unique per request (for rows that create). */
  json?: (w: TenancyWorld, n: string) => unknown;
  /** Console form fields (the session's CSRF token is added). */
  form?: (w: TenancyWorld, n: string) => Record<string, string>;
  headers?: Record<string, string>;
  /** A's identifiers that A's own answer must show: the filter let A's data through. */
  proof?: (w: TenancyWorld) => string[];
  /** More checks of an outsider's answer (and of the world after it). */
  checkOutsider?: (res: SendResult, w: TenancyWorld) => void | Promise<void>;
  checkInsider?: (res: SendResult, w: TenancyWorld) => void | Promise<void>;
  /** Told apart in the title when a route has several rows. */
  variant?: string;
  /**
   * The route ends the caller's own sessions (sign-out, password change): every call is made by a user
   * seeded for it in the caller's group, so the table's shared callers keep working.
   */
  ownSession?: true;
}

type Params = Record<string, string>;

/** Routes that serve no group's data, and why they need no row. */
const PUBLIC: Record<string, string> = {
  'GET /healthz': 'liveness, no data',
  'GET /readyz': 'readiness, no data',
  'GET /api/v1/openapi.json': 'the API description',
  'POST /api/v1/auth/login': 'sign-in: the credentials are the body',
  'GET /login': 'the sign-in page',
  'POST /login': 'the sign-in form',
  'POST /logout': "clears the cookie and ends the cookie's own user's sessions (web/console-auth.test.ts)",
  'GET /assets/:file': "the console's static files",
  'GET /downloads/ferry-agent-linux-x64.tar.gz':
    'the agent release: no secrets, no group (routes/downloads.test.ts)',
  'GET /downloads/ferry-agent-linux-x64.tar.gz.sha256':
    "the agent release's SHA-256 (routes/downloads.test.ts)",
  'GET /downloads/ferry-agent-linux-x64.tar.gz.sig':
    "the agent release's signature, public like the tarball (routes/gateway-upgrades.test.ts)",
  'GET /metrics':
    "the operator's scrape, behind its own token (FERRY_METRICS_TOKEN), checked before any figure is read: " +
    "no token, a wrong one or a user's gets 401/403 and nothing else (routes/metrics.test.ts)",
  'POST /api/v1/agents/enroll': 'the enrollment token in the body is the credential (it names its group)',
  'PUT /blobs/uploads/:uploadId/parts/:partNumber':
    "the fs store's presigned PUT: the URL's signature is the credential (tampering: storage/blob-store.int.test.ts)",
  'PUT /blobs/packs/:packId':
    "a pack's PUT on either store: the URL's signature is the credential, the pack's row names its group and uploads (tampering, other packs: routes/upload-packs.test.ts)",
};

/** Agent routes proven below rather than in the table. */
const SEPARATELY: Record<string, string> = {
  [`GET ${CHANNEL_PATH}`]: 'the websocket channel: the channel tests at the end of this file',
  // The OHIF viewer: behind the console session, and no group's data (its data is /dicomweb's rows).
  'GET /viewer': 'redirects to /viewer/ (viewer/viewer-routes.test.ts)',
  'GET /viewer/app-config.js':
    "the viewer's configuration, the same for everyone (viewer/viewer-routes.test.ts)",
  'GET /viewer/ferry-boot.js': "the viewer's boot script (viewer/viewer-routes.test.ts)",
  'GET /viewer/*':
    "the viewer's files, and its page for any study (the same page: viewer/viewer-routes.test.ts)",
};

const STUDY = '/dicomweb/studies/:studyUid';
const SERIES = `${STUDY}/series/:seriesUid`;
const INSTANCE = `${SERIES}/instances/:sopUid`;
const DICOM_JSON = { accept: 'application/dicom+json' };

const a = (w: TenancyWorld) => w.A;
const studyOf = (w: TenancyWorld) => ({ studyUid: a(w).study.studyUid });
const seriesOf = (w: TenancyWorld) => ({ ...studyOf(w), seriesUid: a(w).study.seriesUid });
const instanceOf = (w: TenancyWorld) => ({ ...seriesOf(w), sopUid: a(w).study.sopUid });
const facilityOf = (w: TenancyWorld) => ({ id: a(w).facilityId });
const gatewayOf = (w: TenancyWorld) => ({ id: a(w).gatewayId });
const diagnosticOf = (w: TenancyWorld) => ({ ...gatewayOf(w), diagnosticId: a(w).diagnosticId });
const alertOf = (w: TenancyWorld) => ({ id: a(w).alertId });
/** Gateway settings form fields: the group's (or facility's) own maxAssociations. */
const maxAssociationsForm = (value: number) => ({
  'own.maxAssociations': 'on',
  'value.maxAssociations': String(value),
});

// Variants that ask for A's child under B's own parent (Row.underOwnParent), with their titles.
const DIAGNOSTIC_ON_OWN_GATEWAY = {
  variant: "under the caller's own gateway",
  underOwnParent: (w: TenancyWorld) => ({ id: w.B.gatewayId, diagnosticId: a(w).diagnosticId }),
};
const SERIES_IN_OWN_STUDY = {
  variant: "A's series under the caller's own study",
  underOwnParent: (w: TenancyWorld) => ({ studyUid: w.B.study.studyUid, seriesUid: a(w).study.seriesUid }),
};
const INSTANCE_IN_OWN_SERIES = {
  variant: "A's instance under the caller's own study and series",
  underOwnParent: (w: TenancyWorld) => ({
    studyUid: w.B.study.studyUid,
    seriesUid: w.B.study.seriesUid,
    sopUid: a(w).study.sopUid,
  }),
};

const ROWS: Row[] = [
  // ---- facilities and enrollment tokens
  {
    method: 'GET',
    route: '/api/v1/facilities',
    caller: 'user',
    outsider: 'filtered',
    proof: (w) => [a(w).facilityId],
  },
  {
    method: 'POST',
    route: '/api/v1/facilities',
    caller: 'admin',
    outsider: 'filtered',
    json: (_, n) => ({ name: `New facility ${n}`, aeTitle: `NEW${n}` }),
  },
  {
    method: 'GET',
    route: '/api/v1/facilities/:id',
    caller: 'user',
    outsider: 'not_found',
    params: facilityOf,
  },
  {
    method: 'PATCH',
    route: '/api/v1/facilities/:id',
    caller: 'admin',
    outsider: 'not_found',
    params: facilityOf,
    json: () => ({ stablePeriodSeconds: 95 }),
  },
  {
    method: 'DELETE',
    route: '/api/v1/facilities/:id',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).facilityToDelete }),
  },
  {
    method: 'POST',
    route: '/api/v1/facilities/:id/enrollment-tokens',
    caller: 'admin',
    outsider: 'not_found',
    params: facilityOf,
    json: () => ({ expiresInHours: 1, maxUses: 1 }),
  },
  {
    method: 'GET',
    route: '/api/v1/facilities/:id/enrollment-tokens',
    caller: 'admin',
    outsider: 'not_found',
    params: facilityOf,
    proof: (w) => [a(w).tokenId],
  },
  {
    method: 'POST',
    route: '/api/v1/enrollment-tokens/:id/revoke',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).tokenToRevoke }),
  },

  // ---- gateways, settings, fleet, diagnostics
  {
    method: 'GET',
    route: '/api/v1/gateways',
    caller: 'user',
    outsider: 'filtered',
    proof: (w) => [a(w).gatewayId],
  },
  {
    method: 'GET',
    route: '/api/v1/gateways/:id',
    caller: 'user',
    outsider: 'not_found',
    params: gatewayOf,
  },
  {
    method: 'POST',
    route: '/api/v1/gateways/:id/revoke',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).gatewayToRevoke }),
  },
  { method: 'GET', route: '/api/v1/settings/gateways', caller: 'user', outsider: 'filtered' },
  {
    method: 'PUT',
    route: '/api/v1/settings/gateways',
    caller: 'admin',
    outsider: 'filtered',
    json: () => ({ maxAssociations: 5 }),
    // Another group's settings change must not touch A's.
    checkOutsider: async (_res, w) => {
      const mine = await send(w.app, w.t.deps.sessionSecret, 'GET', '/api/v1/settings/gateways', {
        token: w.a.admin.token,
      });
      expect(mine.body).toEqual({ settings: w.A.settings });
    },
  },
  { method: 'GET', route: '/api/v1/fleet/summary', caller: 'user', outsider: 'filtered' },
  {
    method: 'POST',
    route: '/api/v1/gateways/:id/diagnostics',
    caller: 'admin',
    outsider: 'not_found',
    params: gatewayOf,
    json: () => ({ kind: 'logs', lines: 10 }),
  },
  {
    method: 'PATCH',
    route: '/api/v1/gateways/:id',
    caller: 'admin',
    outsider: 'not_found',
    params: gatewayOf,
    json: (_, n) => ({ name: `Alpha renamed ${n}` }),
  },
  {
    method: 'POST',
    route: '/api/v1/gateways/:id/upgrade',
    caller: 'admin',
    outsider: 'not_found',
    params: gatewayOf,
    // The release goes to A's test channel, which only records it: A's gateway stays for later rows.
    checkInsider: async (res, w) => {
      const { upgradeId } = res.body as { upgradeId: string | null };
      expect(upgradeId).toEqual(expect.any(String));
      expect((await w.channelA.next('upgrade', 10_000)).id).toBe(upgradeId);
    },
  },
  {
    method: 'POST',
    route: '/api/v1/upgrades',
    caller: 'admin',
    outsider: 'not_found',
    json: (w) => ({ facilityId: a(w).facilityId }),
    // A's live gateway is the canary; its test channel only records the release (see the row above).
    checkInsider: (res, w) => expect(res.body).toMatchObject({ canaryGatewayId: a(w).gatewayId }),
  },
  {
    method: 'GET',
    route: '/api/v1/gateways/:id/diagnostics/:diagnosticId',
    caller: 'admin',
    outsider: 'not_found',
    params: diagnosticOf,
    proof: (w) => [a(w).diagnosticId],
  },
  {
    method: 'GET',
    route: '/api/v1/gateways/:id/diagnostics/:diagnosticId',
    caller: 'admin',
    outsider: 'not_found',
    params: diagnosticOf,
    ...DIAGNOSTIC_ON_OWN_GATEWAY,
  },

  // ---- webhooks
  {
    method: 'POST',
    route: '/api/v1/webhooks',
    caller: 'admin',
    outsider: 'filtered',
    json: (_, n) => ({ url: `https://hooks.example/${n}` }),
  },
  {
    method: 'GET',
    route: '/api/v1/webhooks',
    caller: 'user',
    outsider: 'filtered',
    proof: (w) => [a(w).webhookId],
  },
  {
    method: 'DELETE',
    route: '/api/v1/webhooks/:id',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).webhookToDelete }),
  },
  {
    method: 'GET',
    route: '/api/v1/webhooks/:id/deliveries',
    caller: 'user',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).webhookId }),
    proof: (w) => [a(w).deliveryId],
  },

  // ---- alerts and where they are sent
  {
    method: 'GET',
    route: '/api/v1/alerts',
    caller: 'user',
    outsider: 'filtered',
    proof: (w) => [a(w).alertId],
  },
  {
    method: 'POST',
    route: '/api/v1/alerts/:id/acknowledge',
    caller: 'admin',
    outsider: 'not_found',
    params: alertOf,
  },
  {
    method: 'GET',
    route: '/api/v1/notification-channels',
    caller: 'admin',
    outsider: 'filtered',
    proof: (w) => [a(w).channelId, a(w).channelLabel],
  },
  {
    method: 'POST',
    route: '/api/v1/notification-channels',
    caller: 'admin',
    outsider: 'filtered',
    json: (_, n) => ({ kind: 'email', target: `oncall-${n}@example.test` }),
  },
  {
    method: 'DELETE',
    route: '/api/v1/notification-channels/:id',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).channelToDelete }),
  },

  // ---- groups (platform operators), users, audit
  {
    method: 'POST',
    route: '/api/v1/groups',
    caller: 'operator',
    outsider: 'forbidden',
    json: (_, n) => ({
      name: `Group ${n}`,
      admin: { email: `first-${n}@example.test`, password: `pw-${n}-long-enough` },
    }),
  },
  {
    method: 'GET',
    route: '/api/v1/groups',
    caller: 'operator',
    outsider: 'forbidden',
    proof: (w) => [w.a.groupId],
  },
  {
    method: 'POST',
    route: '/api/v1/users',
    caller: 'admin',
    outsider: 'filtered',
    json: (_, n) => ({ email: `new-${n}@example.test`, password: `pw-${n}-long-enough`, role: 'reader' }),
  },
  {
    method: 'GET',
    route: '/api/v1/users',
    caller: 'admin',
    outsider: 'filtered',
    proof: (w) => [w.a.reader.email],
  },
  {
    method: 'PATCH',
    route: '/api/v1/users/:id',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: w.a.reader.id }),
    json: () => ({ deactivated: false }),
  },
  {
    method: 'POST',
    route: '/api/v1/users/:id/reset-password',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).userToDeactivate.id }),
  },
  {
    method: 'POST',
    route: '/api/v1/me/password',
    caller: 'user',
    outsider: 'filtered',
    ownSession: true,
    json: (_, n) => ({ currentPassword: SEED_PASSWORD, newPassword: `new password ${n}` }),
  },
  { method: 'POST', route: '/api/v1/auth/logout', caller: 'user', outsider: 'filtered', ownSession: true },
  {
    method: 'GET',
    route: '/api/v1/audit',
    caller: 'admin',
    outsider: 'filtered',
    proof: (w) => [a(w).tokenId],
  },

  // ---- studies
  {
    method: 'GET',
    route: '/api/v1/studies',
    caller: 'user',
    outsider: 'filtered',
    proof: (w) => [a(w).study.studyUid],
  },
  {
    method: 'GET',
    route: '/api/v1/studies',
    variant: "searching for A's patient, in A's facility",
    caller: 'user',
    outsider: 'filtered',
    query: (w) => `?q=alphatenancy&facilityId=${a(w).facilityId}`,
    proof: (w) => [a(w).study.studyUid, a(w).study.patientName],
  },
  {
    method: 'GET',
    route: '/api/v1/studies/:studyUid',
    caller: 'user',
    outsider: 'not_found',
    params: studyOf,
  },
  {
    method: 'GET',
    route: '/api/v1/studies/:studyUid/download',
    caller: 'user',
    outsider: 'not_found',
    params: studyOf,
  },

  // ---- DICOMweb: QIDO-RS
  {
    method: 'GET',
    route: '/dicomweb/studies',
    caller: 'user',
    outsider: 'filtered',
    headers: DICOM_JSON,
    proof: (w) => [a(w).study.studyUid],
  },
  {
    method: 'GET',
    route: '/dicomweb/studies',
    variant: "matching A's patient and study UID, all fields",
    caller: 'user',
    outsider: 'filtered',
    headers: DICOM_JSON,
    query: (w) => `?PatientName=ALPHATENANCY*&StudyInstanceUID=${a(w).study.studyUid}&includefield=all`,
    proof: (w) => [a(w).study.studyUid, a(w).study.patientName],
  },
  {
    method: 'GET',
    route: `${STUDY}/series`,
    caller: 'user',
    outsider: 'not_found',
    headers: DICOM_JSON,
    params: studyOf,
    proof: (w) => [a(w).study.seriesUid],
  },
  {
    method: 'GET',
    route: `${STUDY}/instances`,
    caller: 'user',
    outsider: 'not_found',
    headers: DICOM_JSON,
    params: studyOf,
    proof: (w) => [a(w).study.sopUid],
  },
  {
    method: 'GET',
    route: `${SERIES}/instances`,
    caller: 'user',
    outsider: 'not_found',
    headers: DICOM_JSON,
    params: seriesOf,
    proof: (w) => [a(w).study.sopUid],
  },
  {
    method: 'GET',
    route: `${SERIES}/instances`,
    caller: 'user',
    // A search within B's own study: B's (empty) answer, as for any series UID B does not hold.
    outsider: 'filtered',
    headers: DICOM_JSON,
    params: seriesOf,
    ...SERIES_IN_OWN_STUDY,
  },

  // ---- DICOMweb: WADO-RS instances and metadata
  { method: 'GET', route: STUDY, caller: 'user', outsider: 'not_found', params: studyOf },
  { method: 'GET', route: SERIES, caller: 'user', outsider: 'not_found', params: seriesOf },
  {
    method: 'GET',
    route: SERIES,
    caller: 'user',
    outsider: 'not_found',
    params: seriesOf,
    ...SERIES_IN_OWN_STUDY,
  },
  { method: 'GET', route: INSTANCE, caller: 'user', outsider: 'not_found', params: instanceOf },
  {
    method: 'GET',
    route: INSTANCE,
    caller: 'user',
    outsider: 'not_found',
    params: instanceOf,
    ...INSTANCE_IN_OWN_SERIES,
  },
  {
    method: 'GET',
    route: `${STUDY}/metadata`,
    caller: 'user',
    outsider: 'not_found',
    headers: DICOM_JSON,
    params: studyOf,
    proof: (w) => [a(w).study.patientName],
  },
  {
    method: 'GET',
    route: `${SERIES}/metadata`,
    caller: 'user',
    outsider: 'not_found',
    headers: DICOM_JSON,
    params: seriesOf,
    proof: (w) => [a(w).study.patientName],
  },
  {
    method: 'GET',
    route: `${SERIES}/metadata`,
    caller: 'user',
    outsider: 'not_found',
    headers: DICOM_JSON,
    params: seriesOf,
    ...SERIES_IN_OWN_STUDY,
  },
  {
    method: 'GET',
    route: `${INSTANCE}/metadata`,
    caller: 'user',
    outsider: 'not_found',
    headers: DICOM_JSON,
    params: instanceOf,
    proof: (w) => [a(w).study.patientName],
  },
  {
    method: 'GET',
    route: `${INSTANCE}/metadata`,
    caller: 'user',
    outsider: 'not_found',
    headers: DICOM_JSON,
    params: instanceOf,
    ...INSTANCE_IN_OWN_SERIES,
  },

  // ---- DICOMweb: frames and bulk data of an instance
  {
    method: 'GET',
    route: `${INSTANCE}/frames/:frames`,
    caller: 'user',
    outsider: 'not_found',
    params: (w) => ({ ...instanceOf(w), frames: '1' }),
  },
  {
    method: 'GET',
    route: `${INSTANCE}/frames/:frames`,
    caller: 'user',
    outsider: 'not_found',
    params: (w) => ({ ...instanceOf(w), frames: '1' }),
    variant: INSTANCE_IN_OWN_SERIES.variant,
    underOwnParent: (w) => ({ ...INSTANCE_IN_OWN_SERIES.underOwnParent(w), frames: '1' }),
  },
  {
    method: 'GET',
    route: `${INSTANCE}/bulkdata/:path{.+}`,
    caller: 'user',
    outsider: 'not_found',
    params: (w) => ({ ...instanceOf(w), path: '7FE00010' }),
  },

  // ---- DICOMweb: rendered images and thumbnails, at each level
  ...(['rendered', 'thumbnail'] as const).flatMap((resource): Row[] => [
    { method: 'GET', route: `${STUDY}/${resource}`, caller: 'user', outsider: 'not_found', params: studyOf },
    {
      method: 'GET',
      route: `${SERIES}/${resource}`,
      caller: 'user',
      outsider: 'not_found',
      params: seriesOf,
    },
    {
      method: 'GET',
      route: `${INSTANCE}/${resource}`,
      caller: 'user',
      outsider: 'not_found',
      params: instanceOf,
    },
    {
      method: 'GET',
      route: `${INSTANCE}/${resource}`,
      caller: 'user',
      outsider: 'not_found',
      params: instanceOf,
      ...INSTANCE_IN_OWN_SERIES,
    },
    {
      method: 'GET',
      route: `${INSTANCE}/frames/:frames/${resource}`,
      caller: 'user',
      outsider: 'not_found',
      params: (w) => ({ ...instanceOf(w), frames: '1' }),
    },
  ]),

  // ---- agent routes (group B's gateway)
  // The same release for every gateway: another group's gateway is let in and sees nothing of A.
  { method: 'GET', route: '/api/v1/agents/release', caller: 'agent', outsider: 'filtered' },
  {
    method: 'GET',
    route: '/api/v1/agents/me',
    caller: 'agent',
    outsider: 'filtered',
    proof: (w) => [a(w).gatewayId, a(w).facilityId],
  },
  {
    method: 'POST',
    route: '/api/v1/agents/rotate-key',
    caller: 'agent',
    outsider: 'filtered',
    // The old key stays valid until a token signed with the new one arrives, and none ever does.
    json: async () => ({ publicKey: (await newAgentKeyPair()).publicJwk }),
  },
  {
    method: 'POST',
    route: '/api/v1/agents/uploads',
    variant: 'offering an instance A holds (same SOP Instance UID and hash)',
    caller: 'agent',
    outsider: 'filtered',
    json: (w) => ({ objects: [w.A.storedOffer] }),
    // A receipt would tell B that A holds this instance: B must upload its own copy.
    checkOutsider: (res) => expect(offerStatuses(res)).toEqual(['upload']),
    checkInsider: (res) => expect(offerStatuses(res)).toEqual(['stored']),
  },
  {
    method: 'POST',
    route: '/api/v1/agents/uploads',
    variant: "offering the object of A's open upload",
    caller: 'agent',
    outsider: 'filtered',
    json: (w) => ({ objects: [w.A.pendingOffer] }),
    // B gets an upload of its own (the leak check shows A's upload id is not in it); A resumes its own.
    checkOutsider: (res) => expect(offerStatuses(res)).toEqual(['upload']),
    checkInsider: (res, w) =>
      expect((res.body as OfferBody).objects).toMatchObject([
        { status: 'upload', uploadId: w.A.upload.uploadId },
      ]),
  },
  {
    method: 'POST',
    route: '/api/v1/agents/uploads/complete',
    variant: "completing A's open upload",
    caller: 'agent',
    outsider: 'filtered',
    json: (w) => ({ objects: [w.A.upload] }),
    checkOutsider: (res) =>
      expect((res.body as OfferBody).objects).toMatchObject([
        { status: 'refused', code: 'upload.not_found' },
      ]),
    // A's own gateway reaches the upload: its parts are simply not sent yet.
    checkInsider: (res) =>
      expect((res.body as OfferBody).objects).toMatchObject([{ status: 'retry', code: 'upload.incomplete' }]),
  },
  { method: 'POST', route: '/api/v1/agents/diagnostics/upload-test', caller: 'agent', outsider: 'filtered' },
  {
    method: 'POST',
    route: '/api/v1/agents/diagnostics/upload-test/:testId/verify',
    caller: 'agent',
    outsider: 'not_found',
    params: (w) => ({ testId: a(w).uploadTestId }),
    json: () => ({ sha256: '0'.repeat(64) }),
  },

  // ---- console pages
  { method: 'GET', route: '/', caller: 'user', outsider: 'filtered' },
  { method: 'GET', route: '/account', caller: 'user', outsider: 'filtered', proof: (w) => [w.a.admin.email] },
  {
    method: 'GET',
    route: '/worklist',
    caller: 'user',
    outsider: 'filtered',
    proof: (w) => [a(w).study.studyUid],
  },
  {
    method: 'GET',
    route: '/worklist',
    variant: "searching for A's patient",
    caller: 'user',
    outsider: 'filtered',
    query: () => '?q=alphatenancy',
    proof: (w) => [a(w).study.studyUid],
  },
  { method: 'GET', route: '/studies/:studyUid', caller: 'user', outsider: 'not_found', params: studyOf },
  { method: 'GET', route: '/fleet', caller: 'admin', outsider: 'filtered', proof: (w) => [a(w).gatewayId] },
  {
    method: 'GET',
    route: '/fleet/events',
    caller: 'admin',
    outsider: 'filtered',
    proof: (w) => [a(w).gatewayId],
  },
  {
    method: 'GET',
    route: '/gateways/:id',
    caller: 'admin',
    outsider: 'not_found',
    params: gatewayOf,
  },
  {
    method: 'POST',
    route: '/gateways/:id/revoke',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).gatewayToRevokeInConsole }),
  },
  {
    method: 'POST',
    route: '/gateways/:id/name',
    caller: 'admin',
    outsider: 'not_found',
    params: gatewayOf,
    form: (_, n) => ({ name: `Alpha console name ${n}` }),
  },
  {
    method: 'POST',
    route: '/gateways/:id/upgrade',
    caller: 'admin',
    outsider: 'not_found',
    params: gatewayOf,
    // Sent to A's test channel, which only records it; the redirect goes back to the gateway's page.
    checkInsider: (res, w) => expect(res.location).toBe(`/gateways/${a(w).gatewayId}`),
  },
  {
    method: 'POST',
    route: '/fleet/upgrade',
    caller: 'admin',
    outsider: 'not_found',
    // A rollout with A's live gateway as its canary (its test channel only records the release).
    form: (w) => ({ facilityId: a(w).facilityId }),
    checkInsider: (res) => expect(res.location).toBe('/fleet'),
  },
  {
    method: 'POST',
    route: '/gateways/:id/diagnostics/:kind{echo|upload-test|logs}',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).gatewayId, kind: 'upload-test' }),
    form: () => ({}),
  },
  {
    method: 'GET',
    route: '/gateways/:id/diagnostics/:diagnosticId',
    caller: 'admin',
    outsider: 'not_found',
    params: diagnosticOf,
  },
  {
    method: 'GET',
    route: '/gateways/:id/diagnostics/:diagnosticId',
    caller: 'admin',
    outsider: 'not_found',
    params: diagnosticOf,
    ...DIAGNOSTIC_ON_OWN_GATEWAY,
  },
  {
    method: 'GET',
    route: '/facilities',
    caller: 'admin',
    outsider: 'filtered',
    proof: (w) => [a(w).facilityName],
  },
  { method: 'GET', route: '/facilities/new', caller: 'admin', outsider: 'filtered' },
  {
    method: 'POST',
    route: '/facilities',
    caller: 'admin',
    outsider: 'filtered',
    form: (_, n) => ({ name: `Console facility ${n}`, aeTitle: `CON${n}`, stablePeriodSeconds: '90' }),
  },
  {
    method: 'GET',
    route: '/facilities/:id',
    caller: 'admin',
    outsider: 'not_found',
    params: facilityOf,
    proof: (w) => [a(w).aeTitle],
  },
  {
    method: 'POST',
    route: '/facilities/:id',
    caller: 'admin',
    outsider: 'not_found',
    params: facilityOf,
    form: (w) => ({ name: a(w).facilityName, aeTitle: a(w).aeTitle, stablePeriodSeconds: '95' }),
  },
  {
    method: 'POST',
    route: '/facilities/:id/settings/validate',
    caller: 'admin',
    outsider: 'not_found',
    params: facilityOf,
    form: () => maxAssociationsForm(70000),
    proof: () => ['maxAssociations'],
  },
  {
    method: 'POST',
    route: '/facilities/:id/settings',
    caller: 'admin',
    outsider: 'not_found',
    params: facilityOf,
    form: () => maxAssociationsForm(9),
  },
  {
    method: 'POST',
    route: '/facilities/:id/delete',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).facilityToDeleteInConsole }),
    form: () => ({}),
  },
  {
    method: 'POST',
    route: '/facilities/:id/enrollment-tokens',
    caller: 'admin',
    outsider: 'not_found',
    params: facilityOf,
    form: () => ({ expiresInHours: '1', maxUses: '1' }),
  },
  {
    method: 'POST',
    route: '/facilities/:id/enrollment-tokens/:tokenId/revoke',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).facilityId, tokenId: a(w).tokenToRevokeInConsole }),
    form: () => ({}),
  },
  {
    method: 'POST',
    route: '/facilities/:id/enrollment-tokens/:tokenId/revoke',
    variant: "A's token under the caller's own facility",
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).facilityId, tokenId: a(w).tokenToRevokeUnderOtherFacility }),
    underOwnParent: (w) => ({ id: w.B.facilityId, tokenId: a(w).tokenToRevokeUnderOtherFacility }),
    form: () => ({}),
  },
  { method: 'GET', route: '/users', caller: 'admin', outsider: 'filtered', proof: (w) => [w.a.reader.email] },
  {
    method: 'POST',
    route: '/users',
    caller: 'admin',
    outsider: 'filtered',
    form: (_, n) => ({ email: `console-${n}@example.test`, password: `pw-${n}-long-enough`, role: 'reader' }),
  },
  {
    method: 'POST',
    route: '/users/:id/role',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: w.a.reader.id }),
    form: () => ({ role: 'reader' }),
  },
  {
    method: 'POST',
    route: '/users/:id/deactivate',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).userToDeactivate.id }),
    form: () => ({}),
  },
  {
    method: 'POST',
    route: '/users/:id/reactivate',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: w.a.reader.id }),
    form: () => ({}),
  },
  {
    method: 'POST',
    route: '/users/:id/reset-password',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).userToDeactivate.id }),
    form: () => ({}),
    proof: (w) => [a(w).userToDeactivate.email],
  },
  {
    method: 'POST',
    route: '/account/password',
    caller: 'user',
    outsider: 'filtered',
    ownSession: true,
    form: (_, n) => ({ currentPassword: SEED_PASSWORD, newPassword: `new password ${n}` }),
  },
  { method: 'GET', route: '/audit', caller: 'admin', outsider: 'filtered', proof: (w) => [w.a.admin.email] },
  { method: 'GET', route: '/settings/gateways', caller: 'user', outsider: 'filtered' },
  {
    method: 'POST',
    route: '/settings/gateways/validate',
    caller: 'admin',
    outsider: 'filtered',
    form: () => maxAssociationsForm(70000),
    proof: () => ['maxAssociations'],
  },
  {
    method: 'POST',
    route: '/settings/gateways',
    caller: 'admin',
    outsider: 'filtered',
    form: () => maxAssociationsForm(13),
    // Another group's save must not reach A's settings (which earlier rows left at another value).
    checkOutsider: async (_res, w) => {
      const mine = await send(w.app, w.t.deps.sessionSecret, 'GET', '/api/v1/settings/gateways', {
        token: w.a.admin.token,
      });
      expect((mine.body as { settings: { maxAssociations?: number } }).settings.maxAssociations).not.toBe(13);
    },
  },
  {
    method: 'GET',
    route: '/alerts',
    caller: 'admin',
    outsider: 'filtered',
    proof: (w) => [a(w).alertHostname, a(w).channelLabel],
  },
  {
    method: 'POST',
    route: '/alerts/:id/acknowledge',
    caller: 'admin',
    outsider: 'not_found',
    params: alertOf,
  },
  {
    method: 'POST',
    route: '/alerts/channels',
    caller: 'admin',
    outsider: 'filtered',
    form: (_, n) => ({ kind: 'email', target: `console-${n}@example.test` }),
  },
  {
    method: 'POST',
    route: '/alerts/channels/:id/delete',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).channelToDeleteInConsole }),
  },
  {
    method: 'POST',
    route: '/alerts/webhooks/:id/delete',
    caller: 'admin',
    outsider: 'not_found',
    params: (w) => ({ id: a(w).webhookToDeleteInConsole }),
  },
];

interface OfferBody {
  objects: { status: string; code?: string; uploadId?: string }[];
}

function offerStatuses(res: SendResult): string[] {
  return (res.body as OfferBody).objects.map((o) => o.status);
}

const keyOf = (method: string, route: string) => `${method} ${route}`;
const isConsole = (route: string) => !route.startsWith('/api/') && !route.startsWith('/dicomweb/');

function pathOf(row: Row, w: TenancyWorld, params: Params): string {
  const path = row.route.replace(/:(\w+)(\{[^}]*\})?/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${row.route}: no value for :${name}`);
    return value;
  });
  return path + (row.query?.(w) ?? '');
}

let nonce = 0;

interface Caller {
  name: string;
  /** A fresh token per request (agent tokens are single use). */
  token: () => Promise<string>;
}

async function call(
  w: TenancyWorld,
  row: Row,
  caller: Caller,
  params: Params = row.params?.(w) ?? {},
): Promise<{ res: SendResult; sent: string }> {
  nonce += 1;
  const n = `${process.pid.toString(36)}${nonce}`.toUpperCase();
  const path = pathOf(row, w, params);
  const json = row.json ? await row.json(w, n) : undefined;
  const form = row.form?.(w, n) ?? (isConsole(row.route) && row.method === 'POST' ? {} : undefined);
  const token = await caller.token();
  const res = await send(w.app, w.t.deps.sessionSecret, row.method, path, {
    ...(isConsole(row.route) ? { session: token } : { token }),
    ...(json !== undefined ? { json } : {}),
    ...(form !== undefined ? { form } : {}),
    ...(row.headers ? { headers: row.headers } : {}),
  });
  return { res, sent: `${path} ${JSON.stringify(json ?? form ?? null)}` };
}

/** A user seeded for one call, in the group of `of` (an operator when `of` is the operator's group). */
function freshCaller(w: TenancyWorld, name: string, of: { groupId: string }, operator = false): Caller {
  return { name, token: async () => (await seedUser(w.t, of.groupId, 'admin', { operator })).token };
}

function outsidersOf(row: Row, w: TenancyWorld): { caller: Caller; params: Params }[] {
  if (row.ownSession)
    return [
      { caller: freshCaller(w, 'a new admin of group B', w.b), params: {} },
      { caller: freshCaller(w, 'a new platform operator of group C', w.operator, true), params: {} },
    ];
  if (row.caller === 'agent')
    return [
      { caller: { name: "group B's gateway", token: () => w.gwB.token() }, params: row.params?.(w) ?? {} },
    ];
  const bAdmin = { name: "group B's admin", token: async () => w.b.admin.token };
  if (row.underOwnParent) return [{ caller: bAdmin, params: row.underOwnParent(w) }];
  const params = row.params?.(w) ?? {};
  if (row.caller === 'operator') return [{ caller: bAdmin, params }];
  return [
    { caller: bAdmin, params },
    { caller: { name: 'a platform operator of group C', token: async () => w.operator.admin.token }, params },
  ];
}

function insiderOf(row: Row, w: TenancyWorld): Caller {
  if (row.ownSession) return freshCaller(w, 'a new admin of group A', w.a);
  if (row.caller === 'agent') return { name: "group A's gateway", token: () => w.gwA.token() };
  if (row.caller === 'operator')
    return { name: 'a platform operator', token: async () => w.operator.admin.token };
  return { name: "group A's admin", token: async () => w.a.admin.token };
}

const context = (res: SendResult) => `${res.status} ${res.text.slice(0, 400)}`;

/** Not a redirect to the sign-in page: that would be an authentication failure, which proves nothing here. */
function expectSignedIn(res: SendResult): void {
  expect(res.location ?? '', context(res)).not.toMatch(/^\/login/);
}

function expectRefused(row: Row, res: SendResult): void {
  const [status, code] = row.outsider === 'forbidden' ? [403, 'auth.forbidden'] : [404, 'resource.not_found'];
  if (isConsole(row.route)) {
    expect(res.status, context(res)).toBe(status);
    expect(res.headers.get('content-type') ?? '').toMatch(/^text\/html/);
  } else {
    expectError(res, status, code);
  }
}

/** A's identifiers in `text`, except those the caller itself sent. */
function leaksIn(text: string, sent: string, w: TenancyWorld): string[] {
  const [said, asked] = [text.toLowerCase(), sent.toLowerCase()];
  return w.secretsOfA.map((s) => s.toLowerCase()).filter((s) => !asked.includes(s) && said.includes(s));
}

function titleOf(row: Row): string {
  const base = `${row.method} ${row.route}${row.variant ? ` (${row.variant})` : ''}`;
  return `${base} — ${row.caller}, another group: ${row.outsider}`;
}

describe.each(BACKENDS)('tenancy over every route (%s)', (backend) => {
  let w: TenancyWorld;

  beforeAll(async () => {
    w = await seedTenancyWorld(backend);
  });
  afterAll(async () => {
    await w?.close();
  });

  it('has a row (or a stated reason) for every route the app serves, and no row for a route it does not', () => {
    const served = new Set(
      w.app.routes
        // `use` middleware is registered as ALL on a wildcard; it is no route of its own.
        .filter((r) => !(r.method === 'ALL' && r.path.endsWith('*')))
        .map((r) => keyOf(r.method, r.path)),
    );
    const covered = new Set([
      ...ROWS.map((r) => keyOf(r.method, r.route)),
      ...Object.keys(PUBLIC),
      ...Object.keys(SEPARATELY),
    ]);
    expect(
      [...served].filter((k) => !covered.has(k)),
      'routes without a tenancy row',
    ).toEqual([]);
    expect(
      [...covered].filter((k) => !served.has(k)),
      'rows for routes the app does not serve',
    ).toEqual([]);
  });

  it.each(ROWS.map((row) => [titleOf(row), row] as const))('%s', async (_title, row) => {
    for (const { caller: outsider, params } of outsidersOf(row, w)) {
      const { res, sent } = await call(w, row, outsider, params);
      const who = `${outsider.name}: ${context(res)}`;
      if (row.outsider === 'filtered') {
        expect(res.status, who).toBeGreaterThanOrEqual(200);
        expect(res.status, who).toBeLessThan(400);
        expectSignedIn(res);
      } else {
        expectRefused(row, res);
      }
      expect(leaksIn(res.text, sent, w), `${outsider.name} saw group A's data: ${who}`).toEqual([]);
      await row.checkOutsider?.(res, w);
    }

    // The same row for A's own caller works, so the ids above were real.
    const insider = insiderOf(row, w);
    const { res } = await call(w, row, insider);
    expect(res.status, `${insider.name}: ${context(res)}`).toBeGreaterThanOrEqual(200);
    expect(res.status, `${insider.name}: ${context(res)}`).toBeLessThan(400);
    expectSignedIn(res);
    for (const id of row.proof?.(w) ?? []) expect(res.text, `${insider.name} should see ${id}`).toContain(id);
    await row.checkInsider?.(res, w);
  });

  it('public routes answer without credentials and show nothing of any group', async () => {
    for (const path of ['/healthz', '/readyz', '/api/v1/openapi.json', '/login', '/assets/favicon.svg']) {
      const res = await send(w.app, w.t.deps.sessionSecret, 'GET', path);
      expect(res.status, `${path}: ${context(res)}`).toBe(200);
      expect(leaksIn(res.text, '', w), path).toEqual([]);
    }
  });

  describe('the agents channel', () => {
    it("a group B gateway's channel is never sent group A's config or diagnostics, nor A's of B's", async () => {
      // B's own change goes last: once B's gateway has it, everything sent before it has arrived too.
      const marker = 37;
      const res = await send(w.app, w.t.deps.sessionSecret, 'PUT', '/api/v1/settings/gateways', {
        token: w.b.admin.token,
        json: { maxAssociations: marker },
      });
      expect(res.status, context(res)).toBe(200);
      for (;;) {
        const config = await w.channelB.next('config', 10_000);
        if ((config.config as { maxAssociations?: number }).maxAssociations === marker) break;
      }
      const toB = JSON.stringify(w.channelB.received);
      expect(w.secretsOfA.filter((s) => toB.includes(s))).toEqual([]);
      expect(w.channelB.received.filter((m) => m.type === 'diagnostic.request')).toEqual([]);

      // Not vacuous: A's gateway was sent A's diagnostics and config over the same hub.
      const toA = w.channelA.received;
      expect(toA.filter((m) => m.type === 'diagnostic.request').map((m) => m.id)).toContain(w.A.diagnosticId);
      expect(JSON.stringify(toA.filter((m) => m.type === 'config'))).toContain(w.A.aeTitle);
      expect(w.secretsOfB.filter((s) => JSON.stringify(toA).includes(s))).toEqual([]);
    });

    // After the check above: the error answer names the id B itself sent.
    it("refuses group B's gateway a result for group A's diagnostic, and A's diagnostic is untouched", async () => {
      w.channelB.send({
        type: 'diagnostic.result',
        id: w.A.diagnosticId,
        result: { ok: true, summary: 'forged by group B' },
      });
      expect((await w.channelB.next('error', 10_000)).code).toBe('resource.not_found');
      const res = await send(
        w.app,
        w.t.deps.sessionSecret,
        'GET',
        `/api/v1/gateways/${w.A.gatewayId}/diagnostics/${w.A.diagnosticId}`,
        { token: w.a.admin.token },
      );
      expect(res.body, context(res)).toMatchObject({ id: w.A.diagnosticId, result: null, completedAt: null });
    });
  });
});
