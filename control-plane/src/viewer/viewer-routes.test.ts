import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleGet, signInConsole } from '../../../testkit/control-plane/console.js';
import {
  createTestApp,
  type SeededGroup,
  sessionTokenFor,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { seedOneStudy } from '../../../testkit/control-plane/study-fixtures.js';
import type { AppEnv } from '../edge/types.js';
import { CONTENT_SECURITY_POLICY } from '../web/csp.js';
import { VIEWER_CONTENT_SECURITY_POLICY, VIEWER_WORKER_CONTENT_SECURITY_POLICY } from './viewer-csp.js';
import { viewerIndexHtml } from './viewer-index-html.js';
import { VIEWER_PIN } from './viewer-release.js';
import { registerViewer } from './viewer-routes.js';

const run = promisify(execFile);

/** The release's index.html as 3.13.2 ships it, less the icon links: built for the site root. */
const RELEASE_INDEX_HTML =
  '<!doctype html><html lang="en"><head><meta charset="UTF-8"><meta name="msapplication-TileImage" content="/assets/mstile-144x144.png">' +
  '<script>console.time("scriptToView"),window.PUBLIC_URL="/"</script><link rel="manifest" href="/manifest.json">' +
  '<link rel="icon shortcut" href="/assets/favicon.ico"><script rel="preload" as="script" src="/app-config.js"></script>' +
  '<script rel="preload" as="script" type="module" src="/init-service-worker.js"></script><title>OHIF Viewer</title>' +
  '<script>function browserImportFunction(n){return import(n)}window.PUBLIC_URL="/"</script>' +
  '<script defer src="/app.bundle.0f6159c501addfe9.js"></script><link href="/app.bundle.css" rel="stylesheet"></head>' +
  '<body><noscript> You need to enable JavaScript to run this app. </noscript><div id="root"></div></body></html>';

const WASM = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const BUNDLE = '__webpack_require__.p = "/viewer/";\n'.repeat(100);

/** A release directory as the fetch script leaves it, with just enough files to serve. */
async function fakeRelease(dir: string, manifest: Record<string, unknown> = {}): Promise<string> {
  await mkdir(join(dir, 'assets'), { recursive: true });
  await writeFile(join(dir, 'index.html'), RELEASE_INDEX_HTML);
  await writeFile(join(dir, 'app.bundle.0f6159c501addfe9.js'), BUNDLE);
  await writeFile(join(dir, 'app.bundle.0f6159c501addfe9.js.gz'), gzipSync(BUNDLE));
  await writeFile(join(dir, '8097.bundle.8ae6404ba94890a0.js'), BUNDLE);
  await writeFile(join(dir, '0ddf166f7a343eda.wasm'), WASM);
  await writeFile(join(dir, 'app.bundle.css'), 'body{font-family:x}');
  await writeFile(join(dir, 'assets', 'favicon.ico'), Buffer.from([0, 0, 1, 0]));
  await writeFile(
    join(dir, 'ferry-viewer.json'),
    JSON.stringify({
      ...VIEWER_PIN,
      publicPath: '/viewer/',
      rebased: ['8097.bundle.8ae6404ba94890a0.js', 'app.bundle.0f6159c501addfe9.js', 'app.bundle.css'],
      omitted: [],
      ...manifest,
    }),
  );
  return `${dir}/`;
}

describe('the viewer under /viewer/', () => {
  let t: TestApp;
  let a: SeededGroup;
  let b: SeededGroup;
  let scratch: string;
  let release: string;
  /** The viewer's routes alone, on `dir`, with the test app's dependencies. */
  let viewerApp: (dir: string) => Hono<AppEnv>;

  const get = (app: Hono<AppEnv>, path: string, headers: Record<string, string> = {}) =>
    app.request(new URL(path, 'http://ferry.test').toString(), { headers, redirect: 'manual' });
  const asReader = () => ({ cookie: `ferry_session=${a.reader.token}` });

  beforeAll(async () => {
    t = await createTestApp('pglite');
    a = await t.seedGroup('Viewer A');
    b = await t.seedGroup('Viewer B');
    scratch = await mkdtemp(join(tmpdir(), 'ferry-viewer-'));
    release = await fakeRelease(join(scratch, 'release'));
    viewerApp = (dir) => {
      const app = new Hono<AppEnv>();
      app.use('*', async (c, next) => {
        c.set('deps', t.deps);
        c.set('requestId', 'viewer-test');
        await next();
      });
      registerViewer(app, dir);
      return app;
    };
  });
  afterAll(async () => {
    await t?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('sends a signed-out or expired visitor to sign in and back to the study, whatever the file', async () => {
    const link = '/viewer/viewer?StudyInstanceUIDs=1.2.3';
    const none = await consoleGet(t, link);
    expect(none.status).toBe(303);
    expect(none.location).toBe(`/login?next=${encodeURIComponent(link)}`);
    expect(none.headers.get('cache-control')).toBe('no-store');
    expect((await consoleGet(t, '/viewer/app-config.js')).location).toMatch(/^\/login\?next=/);
    expect((await consoleGet(t, '/viewer')).location).toBe(`/login?next=${encodeURIComponent('/viewer')}`);
    const expired = await sessionTokenFor(
      t,
      { ...a.reader, groupId: a.groupId, role: 'reader' },
      { expSeconds: -10 },
    );
    const res = await get(viewerApp(release), link, { cookie: `ferry_session=${expired}` });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain('expired=1');
    const forged = await get(viewerApp(release), link, { cookie: 'ferry_session=not.a.token' });
    expect(forged.status).toBe(303);
    expect(forged.headers.get('location')).toMatch(/^\/login\?next=/);
  });

  it("gives /viewer/ the viewer's CSP and every other page the console's strict one", async () => {
    const session = await signInConsole(t, a.reader);
    const config = await consoleGet(t, '/viewer/app-config.js', session);
    expect(config.status).toBe(200);
    expect(config.headers.get('content-security-policy')).toBe(VIEWER_CONTENT_SECURITY_POLICY);
    expect(config.headers.get('x-frame-options')).toBe('DENY');
    const worklist = await consoleGet(t, '/worklist', session);
    expect(worklist.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    // The relaxations are the viewer's alone, and even there nothing may come from elsewhere.
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/wasm-unsafe-eval|unsafe-inline|blob:/);
    expect(VIEWER_CONTENT_SECURITY_POLICY).not.toMatch(/'unsafe-eval'|https?:|\*/);
    expect(VIEWER_CONTENT_SECURITY_POLICY).toContain("connect-src 'self';");
    expect(VIEWER_CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    const api = await t.request('GET', '/api/v1/studies', { token: a.reader.token });
    expect(api.headers.get('content-security-policy') ?? '').not.toContain('wasm-unsafe-eval');
  });

  it("lets only the worker scripts evaluate strings (the codecs' Emscripten glue needs it)", async () => {
    const app = viewerApp(release);
    const worker = await get(app, '/viewer/8097.bundle.8ae6404ba94890a0.js', asReader());
    expect(worker.status).toBe(200);
    expect(worker.headers.get('content-security-policy')).toBe(VIEWER_WORKER_CONTENT_SECURITY_POLICY);
    expect(VIEWER_WORKER_CONTENT_SECURITY_POLICY).toContain("'unsafe-eval'");
    for (const path of [
      '/viewer/app.bundle.0f6159c501addfe9.js',
      '/viewer/viewer?StudyInstanceUIDs=1.2',
      '/viewer/',
    ]) {
      const res = await get(app, path, asReader());
      expect(res.headers.get('content-security-policy'), path).toBe(VIEWER_CONTENT_SECURITY_POLICY);
    }
    // Signed out, a worker's URL is a redirect to sign in with the page's policy.
    const signedOut = await get(app, '/viewer/8097.bundle.8ae6404ba94890a0.js');
    expect(signedOut.status).toBe(303);
    expect(signedOut.headers.get('content-security-policy')).toBe(VIEWER_CONTENT_SECURITY_POLICY);
  });

  it("serves Ferry's app-config: this origin's /dicomweb, the /viewer router base, nothing elsewhere", async () => {
    const session = await signInConsole(t, a.reader);
    const res = await consoleGet(t, '/viewer/app-config.js', session);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    // Run it as the page would, on this server's origin.
    const window: { location: { origin: string }; config?: Record<string, unknown> } = {
      location: { origin: 'https://ferry.example' },
    };
    new Function('window', res.html)(window);
    const config = window.config as {
      routerBasename: string;
      defaultDataSourceName: string;
      dataSources: { sourceName: string; configuration: Record<string, unknown> }[];
    };
    expect(config.routerBasename).toBe('/viewer');
    expect(config.dataSources).toHaveLength(1);
    expect(config.dataSources[0]!.sourceName).toBe(config.defaultDataSourceName);
    expect(config.dataSources[0]!.configuration).toMatchObject({
      qidoRoot: 'https://ferry.example/dicomweb',
      wadoRoot: 'https://ferry.example/dicomweb',
      wadoUriRoot: 'https://ferry.example/dicomweb',
      qidoSupportsIncludeField: true,
      imageRendering: 'wadors',
      omitQuotationForMultipartRequest: true,
      bulkDataURI: { enabled: true },
    });
    expect(res.html).not.toMatch(/https?:\/\/|oidc|dangerouslyUseDynamicConfig|customizationUrlPrefixes/);
  });

  it("rewrites the release's page for /viewer/: no inline script, Ferry's boot script first", async () => {
    const html = viewerIndexHtml(RELEASE_INDEX_HTML);
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toContain('init-service-worker');
    expect(html).not.toMatch(/\s(href|src)="\/(?!viewer\/)/);
    expect(html.indexOf('src="/viewer/ferry-boot.js"')).toBeLessThan(
      html.indexOf('src="/viewer/app-config.js"'),
    );
    expect(html).toContain('<script defer src="/viewer/app.bundle.0f6159c501addfe9.js"></script>');
    expect(html).toContain('<link href="/viewer/app.bundle.css" rel="stylesheet">');
    expect(() => viewerIndexHtml('<html><head><title>x</title></head></html>')).toThrow(/PUBLIC_URL/);
    const boot = await get(viewerApp(release), '/viewer/ferry-boot.js', asReader());
    expect(await boot.text()).toContain("window.PUBLIC_URL = '/viewer/'");
  });

  it("answers the viewer's own routes with its page, and a missing file with a 404", async () => {
    const app = viewerApp(release);
    const page = await get(app, '/viewer/viewer?StudyInstanceUIDs=1.2.840.1', asReader());
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toBe(viewerIndexHtml(RELEASE_INDEX_HTML));
    expect(await (await get(app, '/viewer/', asReader())).text()).toBe(html);
    expect(await (await get(app, '/viewer/viewer/dicomweb', asReader())).text()).toBe(html);
    expect((await get(app, '/viewer/1234.bundle.0123456789abcdef.js', asReader())).status).toBe(404);
    expect((await get(app, '/viewer/missing.wasm', asReader())).status).toBe(404);
    // Nothing outside the release, and not the precompressed copies as such.
    expect((await get(app, '/viewer/..%2Frelease%2Fapp.bundle.css', asReader())).status).toBe(404);
    expect((await get(app, '/viewer/.%2E/release/index.html', asReader())).status).toBe(404);
    expect((await get(app, '/viewer/app.bundle.0f6159c501addfe9.js.gz', asReader())).status).toBe(404);
    const redirect = await get(app, '/viewer', asReader());
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/viewer/');
  });

  it('serves WebAssembly as application/wasm and caches content-hashed files for a year', async () => {
    const app = viewerApp(release);
    const wasm = await get(app, '/viewer/0ddf166f7a343eda.wasm', asReader());
    expect(wasm.status).toBe(200);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect(wasm.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(wasm.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await wasm.arrayBuffer())).toEqual(WASM);
    const css = await get(app, '/viewer/app.bundle.css', asReader());
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    // Not content-hashed: revalidated, and a 304 when unchanged.
    expect(css.headers.get('cache-control')).toBe('private, no-cache');
    const etag = css.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"3\.13\.2-/);
    const again = await get(app, '/viewer/app.bundle.css', { ...asReader(), 'if-none-match': etag });
    expect(again.status).toBe(304);
    const icon = await get(app, '/viewer/assets/favicon.ico', asReader());
    expect(icon.headers.get('content-type')).toBe('image/x-icon');
  });

  it('sends the gzip copy to a browser that takes gzip, the plain file to one that does not', async () => {
    const app = viewerApp(release);
    const path = '/viewer/app.bundle.0f6159c501addfe9.js';
    const gz = await get(app, path, { ...asReader(), 'accept-encoding': 'gzip, deflate, br' });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect(gz.headers.get('vary')).toContain('accept-encoding');
    expect(gz.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const plain = await get(app, path, { ...asReader(), 'accept-encoding': 'identity' });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await plain.text()).toBe(BUNDLE);
  });

  it("is the same page for any study, so it tells another group's reader nothing", async () => {
    const theirs = await seedOneStudy(t, a);
    const app = viewerApp(release);
    const asB = { cookie: `ferry_session=${b.reader.token}` };
    const other = await get(app, `/viewer/viewer?StudyInstanceUIDs=${theirs.studyUid}`, asB);
    const none = await get(app, '/viewer/viewer?StudyInstanceUIDs=1.2.3.4.5', asB);
    expect(other.status).toBe(200);
    expect(await other.text()).toBe(await none.text());
    // What the viewer then asks for, with B's session cookie: the same 404 as a study that does not exist.
    const metadata = await t.request('GET', `/dicomweb/studies/${theirs.studyUid}/metadata`, {
      headers: asB,
    });
    expect(metadata.status).toBe(404);
  });

  it('says how to install the viewer when it is missing or not the pinned release', async () => {
    const missing = await get(
      viewerApp(join(scratch, 'nothing/')),
      '/viewer/viewer?StudyInstanceUIDs=1.2',
      asReader(),
    );
    expect(missing.status).toBe(503);
    const text = await missing.text();
    expect(text).toContain(`The viewer (${VIEWER_PIN.package}@${VIEWER_PIN.version}) is not installed`);
    expect(text).toContain('node control-plane/scripts/fetch-viewer.mjs');
    expect(missing.headers.get('cache-control')).toBe('no-store');
    // Fetched while the server runs: served from the next request on.
    const later = join(scratch, 'later');
    const app = viewerApp(`${later}/`);
    expect((await get(app, '/viewer/', asReader())).status).toBe(503);
    await fakeRelease(later);
    expect((await get(app, '/viewer/', asReader())).status).toBe(200);
    const old = await fakeRelease(join(scratch, 'old'), { version: '3.9.0', integrity: 'sha512-old' });
    const stale = await get(viewerApp(old), '/viewer/', asReader());
    expect(stale.status).toBe(503);
    expect(await stale.text()).toContain(`not the pinned ${VIEWER_PIN.package}@${VIEWER_PIN.version}`);
  });
});

describe('control-plane/scripts/fetch-viewer.mjs', () => {
  const script = new URL('../../scripts/fetch-viewer.mjs', import.meta.url).pathname;
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'ferry-fetch-viewer-'));
  });
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('refuses a tarball that is not the pinned release and leaves nothing behind', async () => {
    await mkdir(join(scratch, 'src', 'package', 'dist'), { recursive: true });
    await writeFile(join(scratch, 'src', 'package', 'dist', 'index.html'), RELEASE_INDEX_HTML);
    const tarball = join(scratch, 'app.tgz');
    await run('tar', ['-czf', tarball, '-C', join(scratch, 'src'), 'package']);
    const dest = join(scratch, 'viewer-dist');
    const failed = await run(process.execPath, [script, '--from', tarball, '--dest', dest]).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(`is not ${VIEWER_PIN.package}@${VIEWER_PIN.version} as pinned`);
    await expect(stat(dest)).rejects.toThrow(/ENOENT/);
    // --optional: the same failure is a warning, and `npm start` goes on.
    const optional = await run(process.execPath, [script, '--from', tarball, '--dest', dest, '--optional']);
    expect(optional.stderr).toContain('going on without it');
  });

  it('leaves a release of the pinned version alone without downloading anything', async () => {
    const dest = join(scratch, 'current');
    await fakeRelease(dest);
    const before = await readFile(join(dest, 'ferry-viewer.json'), 'utf8');
    const { stdout } = await run(process.execPath, [script, '--dest', dest], {
      env: { ...process.env, npm_config_registry: 'http://127.0.0.1:9/' },
    });
    expect(stdout).toContain('is already in');
    expect(await readFile(join(dest, 'ferry-viewer.json'), 'utf8')).toBe(before);
  });
});
