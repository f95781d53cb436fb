/**
 * Helpers for the attack tests (control-plane/test/attack/): what no answer may ever carry, and the app's own route
 * table, so a new route is attacked without anyone adding it to a list. No vitest import here.
 */
import type { TestApp } from './harness.js';

/** Signs of internals in an answer: stack frames, source or data paths, SQL, driver errors. */
const LEAKS: [string, RegExp][] = [
  ['a stack frame', /\bat [\w.<>]+ \(|\bat file:\/\//],
  ['a source file', /\.(ts|tsx|js|mjs):\d+/],
  ['a file path', /(\/tmp\/|\/work\/|\/home\/|\/var\/lib\/|node_modules|ferry-blobs-)/],
  ['SQL', /\b(select|insert|update|delete)\b[^"]*\b(from|into|set)\b|SQLSTATE|syntax error at or near/i],
  ['a driver error', /\b(PostgresError|DrizzleQueryError|PGlite|invalid byte sequence|ECONNREFUSED)\b/i],
  ['an error class', /\b(TypeError|RangeError|ReferenceError|SyntaxError):/],
];

/** The first leak found in `text` (with `secrets` that must never be echoed), or undefined. */
export function findLeak(text: string, secrets: string[] = []): string | undefined {
  for (const [what, re] of LEAKS) {
    const m = re.exec(text);
    if (m) return `${what}: ${JSON.stringify(m[0])}`;
  }
  for (const secret of secrets) if (secret && text.includes(secret)) return 'a secret';
  return undefined;
}

export interface AppRoute {
  method: string;
  /** Hono's pattern, e.g. `/api/v1/facilities/:id`. */
  path: string;
}

/** The handlers the app registered (middleware entries dropped), one per method and path. */
export function appRoutes(t: Pick<TestApp, 'app'>): AppRoute[] {
  const seen = new Map<string, AppRoute>();
  for (const r of t.app.routes) {
    if (r.method === 'ALL' || r.path.includes('*')) continue;
    seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path });
  }
  return [...seen.values()];
}

/** `METHOD /path/:param` of the OpenAPI routes that declare a JSON request body. */
export function routesWithJsonBody(t: Pick<TestApp, 'app'>): Set<string> {
  const out = new Set<string>();
  for (const d of t.app.openAPIRegistry.definitions) {
    if (d.type !== 'route' || !d.route.request?.body) continue;
    const path = d.route.path.replace(/\{(\w+)\}/g, ':$1');
    out.add(`${d.route.method.toUpperCase()} ${path}`);
  }
  return out;
}

/** A route pattern with every `:param` filled (by default with `fill`). */
export function fillPath(path: string, fill: (name: string) => string): string {
  return path.replace(/:([A-Za-z]+)(\{[^}]*\})?/g, (_, name: string) => fill(name));
}
