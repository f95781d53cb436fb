import { AGENT_RELEASE_API_PATH } from '@ferry/shared';
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AGENT_RELEASE_NAME, AGENT_RELEASE_PATH } from '../agent-release/agent-release.js';
import { authenticate } from '../edge/auth-middleware.js';
import { streamBody } from '../edge/stream-body.js';
import type { AppEnv } from '../edge/types.js';
import { errorResponses } from './openapi-common.js';

/**
 * The release keeps one URL across upgrades, so caches must ask again every time (the ETag, the
 * release's SHA-256, makes that a 304); it holds no secrets, so shared caches may keep it.
 */
const CACHE_CONTROL = 'public, no-cache';

const tarball = createRoute({
  method: 'get',
  path: AGENT_RELEASE_PATH,
  tags: ['downloads'],
  summary: 'The agent release this control plane ships with (no sign-in)',
  description:
    'The bundled agent with its own Node, install.sh and the systemd unit, as `npm run bundle:agent` builds it. ' +
    "Enrollment tokens' install lines download it from here and check its SHA-256.",
  responses: {
    200: {
      description: 'The tarball',
      content: { 'application/gzip': { schema: z.string().openapi({ format: 'binary' }) } },
    },
    304: { description: 'Not modified (If-None-Match)' },
    ...errorResponses(404),
  },
});

const checksum = createRoute({
  method: 'get',
  path: `${AGENT_RELEASE_PATH}.sha256`,
  tags: ['downloads'],
  summary: "The agent release's SHA-256, as sha256sum writes it (no sign-in)",
  responses: {
    200: {
      description: '`<hex>  ferry-agent-linux-x64.tar.gz`: `sha256sum -c` checks a download with it',
      content: { 'text/plain': { schema: z.string() } },
    },
    ...errorResponses(404),
  },
});

const signature = createRoute({
  method: 'get',
  path: `${AGENT_RELEASE_PATH}.sig`,
  tags: ['downloads'],
  summary: "The agent release's signature (no sign-in)",
  description:
    'The Ed25519 signature (base64url) of the release signing key over `ferry-agent-release/1\\nversion=<version>\\nsha256=<hex>\\n`, ' +
    'with the version and hash it covers. Gateways learn the key at enrollment and install only releases it signed.',
  responses: {
    200: {
      description: 'The release descriptor',
      content: {
        'application/json': {
          schema: z.object({
            version: z.string(),
            sha256: z.string(),
            size: z.number(),
            signature: z.string(),
          }),
        },
      },
    },
    ...errorResponses(404),
  },
});

const agentTarball = createRoute({
  method: 'get',
  path: AGENT_RELEASE_API_PATH,
  tags: ['agents'],
  summary: 'The agent release, for an enrolled gateway upgrading itself',
  middleware: [authenticate('agent')] as const,
  responses: {
    200: {
      description: 'The tarball (the same bytes as /downloads)',
      content: { 'application/gzip': { schema: z.string().openapi({ format: 'binary' }) } },
    },
    ...errorResponses(401, 403, 404),
  },
});

export function registerDownloads(app: OpenAPIHono<AppEnv>): void {
  app.openapi(signature, async (c) => {
    const descriptor = await c.get('deps').agentRelease.descriptor();
    return c.json(descriptor, 200, { 'cache-control': CACHE_CONTROL, 'x-content-type-options': 'nosniff' });
  });

  app.openapi(agentTarball, (c) => serveTarball(c));

  app.openapi(tarball, (c) => serveTarball(c));
  registerChecksum(app);
}

async function serveTarball(c: Context<AppEnv>): Promise<Response> {
  const release = await c.get('deps').agentRelease.open();
  const etag = `"sha256-${release.sha256}"`;
  const headers = {
    etag,
    'cache-control': CACHE_CONTROL,
    'last-modified': release.modifiedAt.toUTCString(),
  };
  if (c.req.header('if-none-match') === etag) {
    await release.handle.close();
    return c.body(null, 304, headers);
  }
  const described = {
    ...headers,
    'content-type': 'application/gzip',
    'content-length': String(release.size),
    'content-disposition': `attachment; filename="${AGENT_RELEASE_NAME}"`,
    'x-content-type-options': 'nosniff',
  };
  // Hono answers HEAD through this GET handler and drops the body: do not open a stream for nobody.
  if (c.req.method === 'HEAD') {
    await release.handle.close();
    return c.body(null, 200, described);
  }
  const log = c.get('deps').log;
  const requestId = c.get('requestId');
  const body = streamBody(release.handle.createReadStream({ start: 0, autoClose: true }), (err) =>
    log.warn({ event: 'agent_release.stream_failed', requestId, err }, 'agent release download broke off'),
  );
  return c.body(body, 200, described);
}

function registerChecksum(app: OpenAPIHono<AppEnv>): void {
  app.openapi(checksum, async (c) => {
    const { sha256 } = await c.get('deps').agentRelease.info();
    return c.text(`${sha256}  ${AGENT_RELEASE_NAME}\n`, 200, {
      'cache-control': CACHE_CONTROL,
      etag: `"sha256-${sha256}"`,
      'x-content-type-options': 'nosniff',
    });
  });
}
