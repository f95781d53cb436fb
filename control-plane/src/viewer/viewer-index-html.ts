/** Ferry's own script that the viewer's page loads first (see VIEWER_BOOT_JS). */
export const BOOT_SCRIPT = '/viewer/ferry-boot.js';

/**
 * What the release's two inline scripts did, as a file: the viewer's CSP allows no inline script.
 * PUBLIC_URL is where OHIF resolves its own URLs (routes, extension assets); browserImportFunction
 * is how it imports modules at run time.
 */
export const VIEWER_BOOT_JS = `// Ferry serves the OHIF viewer under /viewer/.
window.PUBLIC_URL = '/viewer/';
window.browserImportFunction = function (url) {
  return import(url);
};
`;

/** An inline script (no src), or the release's service-worker bootstrap (left out of the extraction). */
const DROPPED_SCRIPT =
  /<script>[^<]*<\/script>|<script[^>]*\ssrc="\/init-service-worker\.js"[^>]*><\/script>/g;
const ROOT_URL = /\s(href|src|content)="\/(?!\/)/g;

/**
 * The release's index.html (built for the site root) made for /viewer/: its inline scripts replaced by
 * BOOT_SCRIPT, loaded before everything else, and every root-relative href, src and meta content moved under
 * /viewer/. Throws when the page is not shaped as expected, so a changed release fails at startup
 * rather than as a blank page.
 */
export function viewerIndexHtml(releaseHtml: string): string {
  const inline = releaseHtml.match(DROPPED_SCRIPT) ?? [];
  if (!inline.some((s) => s.includes('PUBLIC_URL')))
    throw new Error("the viewer's index.html does not set window.PUBLIC_URL where expected");
  let html = releaseHtml.replace(DROPPED_SCRIPT, '').replace(ROOT_URL, ' $1="/viewer/');
  if (!/<script defer(="defer")? src="\/viewer\/app\.bundle\.[0-9a-f]+\.js">/.test(html))
    throw new Error("the viewer's index.html does not load its app bundle where expected");
  // Before the first script (the app config), so PUBLIC_URL is set before any of the viewer's code runs.
  html = html.replace('<script', `<script src="${BOOT_SCRIPT}"></script><script`);
  if (/<script(?![^>]*\ssrc=)[^>]*>/.test(html))
    throw new Error("the viewer's index.html still has an inline script");
  return html;
}
