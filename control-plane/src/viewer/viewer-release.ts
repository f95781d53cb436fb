import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { viewerIndexHtml } from './viewer-index-html.js';

/** Where the viewer is served; webpack's public path in the extracted bundles says the same. */
export const VIEWER_PATH = '/viewer/';

/** control-plane/, from src/viewer or dist/viewer alike. */
const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));
/** Where control-plane/scripts/fetch-viewer.mjs puts the release (gitignored; the image ships it). */
export const DEFAULT_VIEWER_DIR = `${PACKAGE_DIR}viewer-dist/`;
export const FETCH_VIEWER_COMMAND = 'node control-plane/scripts/fetch-viewer.mjs';

const Pin = z.object({ package: z.string(), version: z.string(), integrity: z.string() });
const Manifest = Pin.extend({ publicPath: z.string(), rebased: z.array(z.string()).default([]) });

/** The one pinned OHIF release (control-plane/viewer-release.json), which the fetch script also reads. */
export const VIEWER_PIN = Pin.parse(JSON.parse(readFileSync(`${PACKAGE_DIR}viewer-release.json`, 'utf8')));

export type ViewerRelease =
  | {
      ok: true;
      dir: string;
      version: string;
      indexHtml: string;
      /**
       * The worker scripts: bundles with a webpack runtime of their own (the fetch script rebased
       * them), other than the app bundle that the page loads.
       */
      workerScripts: ReadonlySet<string>;
    }
  /** Why there is no viewer to serve, in words for the person who opened /viewer/. */
  | { ok: false; reason: string };

/**
 * The extracted release in `dir`, if it is the pinned one and was rebased for VIEWER_PATH; its
 * index.html already rewritten for Ferry. Read once (the release does not change under a running
 * server); an absent one is looked for again.
 */
export async function loadViewerRelease(dir = DEFAULT_VIEWER_DIR): Promise<ViewerRelease> {
  const pinned = `${VIEWER_PIN.package}@${VIEWER_PIN.version}`;
  let manifest: z.infer<typeof Manifest>;
  try {
    manifest = Manifest.parse(JSON.parse(await readFile(`${dir}ferry-viewer.json`, 'utf8')));
  } catch {
    return { ok: false, reason: `The viewer (${pinned}) is not installed on this server.` };
  }
  if (manifest.integrity !== VIEWER_PIN.integrity || manifest.publicPath !== VIEWER_PATH)
    return {
      ok: false,
      reason: `This server has ${manifest.package}@${manifest.version} for ${manifest.publicPath}, not the pinned ${pinned} for ${VIEWER_PATH}.`,
    };
  let releaseHtml: string;
  try {
    releaseHtml = await readFile(`${dir}index.html`, 'utf8');
  } catch {
    return { ok: false, reason: `The viewer (${pinned}) on this server has no index.html.` };
  }
  const workerScripts = new Set(
    manifest.rebased.filter((n) => n.endsWith('.js') && !n.startsWith('app.bundle.')),
  );
  return { ok: true, dir, version: manifest.version, indexHtml: viewerIndexHtml(releaseHtml), workerScripts };
}
