#!/usr/bin/env node
// Puts the OHIF viewer's built release where the control plane serves it (/viewer/): the pinned
// `@ohif/app` tarball from the npm registry (control-plane/viewer-release.json), checked against the
// pinned sha512 integrity, its `dist/` extracted to control-plane/viewer-dist/ (gitignored).
//
// Why a script and not a dependency: `npm install @ohif/app` pulls OHIF's whole React/webpack build tree
// and fails outright (3.13.2 depends on an @ohif/i18n version that was never published). Only the built
// `dist/` is needed, and `npm pack` fetches just that tarball through the user's npm config (registry,
// proxy, cache).
//
// The release is built for the site root: webpack's runtime has its public path baked in as "/" (chunks,
// workers and WebAssembly load from there). Ferry serves it under /viewer/, so that one assignment is
// rewritten in each bundle that carries a webpack runtime, and so are the stylesheets' root-relative
// url(/…) (the app's font); nothing else in the bundles changes. Files the
// viewer cannot use here are left out (release.omit): the ONNX runtime for the AI segmentation tools
// (136 MB; its models come from huggingface.co, which the viewer's CSP does not allow), the service
// worker, Google Cloud's config, and static hosts' rewrite files.
//
// Usage: node control-plane/scripts/fetch-viewer.mjs [--from TARBALL] [--dest DIR] [--optional] [--force]
//   --from      use this tarball instead of `npm pack` (still checked against the pinned integrity)
//   --optional  on failure, warn and exit 0 (`npm start` goes on without the viewer)
// A release already in place for the pinned version is left alone (unless --force).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { gzip } from 'node:zlib';

const run = promisify(execFile);
const gzipAsync = promisify(gzip);
const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const RELEASE_FILE = join(packageDir, 'viewer-release.json');
const MANIFEST = 'ferry-viewer.json';
/** webpack's runtime assignment of its public path in a build made for the site root. */
const RUNTIME_PUBLIC_PATH = '__webpack_require__.p = "/";';
/** Served gzip-encoded too when bigger than this (the app bundle is 17 MB as it is). */
const GZIP_MIN_BYTES = 1024;
const GZIP_EXTENSIONS = new Set(['.js', '.css', '.wasm', '.json', '.html', '.svg', '.map']);

const { values: args } = parseArgs({
  options: {
    from: { type: 'string' },
    dest: { type: 'string' },
    optional: { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
  },
});

function fail(message) {
  const err = new Error(message);
  err.viewerFetch = true;
  throw err;
}

async function sha512Integrity(file) {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return `sha512-${hash.digest('base64')}`;
}

async function readJson(file) {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** `npm pack <pkg>@<version>` into `dir`: the registry's tarball, through npm's cache and config. */
async function packFromRegistry(release, dir) {
  const spec = `${release.package}@${release.version}`;
  process.stdout.write(`viewer: downloading ${spec} from the npm registry (about 50 MB)\n`);
  let stdout;
  try {
    ({ stdout } = await run('npm', ['pack', spec, '--json', '--pack-destination', dir], {
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, npm_config_loglevel: 'error' },
    }));
  } catch (err) {
    fail(
      `npm pack ${spec} failed: ${String(err.stderr || err.message)
        .trim()
        .split('\n')
        .slice(-3)
        .join(' ')}`,
    );
  }
  const [packed] = JSON.parse(stdout);
  return join(dir, packed.filename);
}

/** Rewrites webpack's public path in every top-level script that sets it; returns the files changed. */
async function rebaseBundles(distDir, publicPath) {
  const patched = [];
  for (const name of (await readdir(distDir)).filter((n) => n.endsWith('.js')).sort()) {
    const file = join(distDir, name);
    const text = await readFile(file, 'utf8');
    const count = text.split(RUNTIME_PUBLIC_PATH).length - 1;
    if (count === 0) continue;
    if (count > 1) fail(`${name} sets webpack's public path ${count} times; expected once`);
    await writeFile(
      file,
      text.replace(RUNTIME_PUBLIC_PATH, `__webpack_require__.p = ${JSON.stringify(publicPath)};`),
    );
    patched.push(name);
  }
  if (!patched.some((n) => n.startsWith('app.bundle.')))
    fail(
      `the app bundle does not set webpack's public path as ${RUNTIME_PUBLIC_PATH} (did the release change?)`,
    );
  return patched;
}

/** Root-relative `url(/…)` in the top-level stylesheets (the app's font) moved under the public path. */
async function rebaseStylesheets(distDir, publicPath) {
  const patched = [];
  for (const name of (await readdir(distDir)).filter((n) => n.endsWith('.css')).sort()) {
    const file = join(distDir, name);
    const text = await readFile(file, 'utf8');
    const rebased = text.replace(/url\(\/(?!\/)/g, `url(${publicPath}`);
    if (rebased === text) continue;
    await writeFile(file, rebased);
    patched.push(name);
  }
  return patched;
}

/** A `.gz` beside every compressible file, so the server sends the 17 MB app bundle as about 4 MB. */
async function precompress(distDir) {
  let count = 0;
  for (const entry of await readdir(distDir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const dot = entry.name.lastIndexOf('.');
    if (dot < 0 || !GZIP_EXTENSIONS.has(entry.name.slice(dot))) continue;
    const file = join(entry.parentPath, entry.name);
    const bytes = await readFile(file);
    if (bytes.length < GZIP_MIN_BYTES) continue;
    await writeFile(`${file}.gz`, await gzipAsync(bytes, { level: 9 }));
    count++;
  }
  return count;
}

async function main() {
  const release = JSON.parse(await readFile(RELEASE_FILE, 'utf8'));
  const dest = resolve(args.dest ?? join(packageDir, 'viewer-dist'));
  const current = await readJson(join(dest, MANIFEST));
  if (!args.force && current?.version === release.version && current?.integrity === release.integrity) {
    process.stdout.write(`viewer: ${release.package}@${release.version} is already in ${dest}\n`);
    return;
  }
  await mkdir(dirname(dest), { recursive: true });
  // Beside the destination, so the finished tree moves into place with one rename.
  const work = await mkdtemp(join(dirname(dest), `.${basename(dest)}-`));
  try {
    const tarball = args.from ? resolve(args.from) : await packFromRegistry(release, work);
    const integrity = await sha512Integrity(tarball);
    if (integrity !== release.integrity)
      fail(
        `${basename(tarball)} is not ${release.package}@${release.version} as pinned: its integrity is ${integrity}, ` +
          `viewer-release.json pins ${release.integrity}`,
      );
    const excludes = release.omit.map((p) => `--exclude=package/dist/${p}`);
    try {
      await run('tar', ['-xzf', tarball, '-C', work, ...excludes, 'package/dist']);
    } catch (err) {
      fail(
        `could not extract package/dist from ${basename(tarball)}: ${String(err.stderr || err.message).trim()}`,
      );
    }
    const distDir = join(work, 'package', 'dist');
    const patched = [
      ...(await rebaseBundles(distDir, release.publicPath)),
      ...(await rebaseStylesheets(distDir, release.publicPath)),
    ];
    const gzipped = await precompress(distDir);
    const manifest = {
      package: release.package,
      version: release.version,
      integrity: release.integrity,
      publicPath: release.publicPath,
      rebased: patched,
      omitted: release.omit,
    };
    await writeFile(join(distDir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    const old = `${work}-old`;
    await rename(dest, old).catch((err) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await rename(distDir, dest);
    await rm(old, { recursive: true, force: true });
    process.stdout.write(
      `viewer: ${release.package}@${release.version} in ${dest} (public path ${release.publicPath} in ${patched.length} files, ${gzipped} files gzipped)\n`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  const message = err.viewerFetch ? err.message : (err.stack ?? String(err));
  if (args.optional) {
    process.stderr.write(
      `viewer: ${message}\nviewer: going on without it; /viewer/ will say how to fetch it\n`,
    );
    return;
  }
  process.stderr.write(`viewer: ${message}\n`);
  process.exitCode = 1;
});
