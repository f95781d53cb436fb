import { readFileSync } from 'node:fs';

/** What the release bundle stamps in (scripts/bundle.mjs, esbuild `define`); absent when run from dist/. */
declare const __FERRY_AGENT_BUILD__: { version: string; commit: string; builtAt: string } | undefined;

const stamp = typeof __FERRY_AGENT_BUILD__ === 'undefined' ? undefined : __FERRY_AGENT_BUILD__;

/** The agent's package version: the bundle's stamp, else agent/package.json next to src/ and dist/. */
export const AGENT_VERSION: string =
  stamp?.version ??
  (() => {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
        version?: unknown;
      };
      return typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      return 'unknown';
    }
  })();

/** The git commit and build time of a release bundle; `dev` / undefined when run from a checkout. */
export const AGENT_BUILD: { commit: string; builtAt: string | undefined } = {
  commit: stamp?.commit ?? 'dev',
  builtAt: stamp?.builtAt,
};

/** One line for `ferry-agent --version`: version, commit, build time and the Node running it. */
export function versionLine(): string {
  const built = AGENT_BUILD.builtAt ? ` built ${AGENT_BUILD.builtAt}` : '';
  return `ferry-agent ${AGENT_VERSION} (commit ${AGENT_BUILD.commit}${built}; node ${process.version})`;
}
