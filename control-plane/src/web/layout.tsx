import type { Child } from 'hono/jsx';
import { Csrf } from './components/field.js';
import type { PageUser } from './page-context.js';

export interface LayoutProps {
  title: string;
  user?: PageUser | undefined;
  /** Which nav entry is current. */
  nav?:
    | 'fleet'
    | 'alerts'
    | 'facilities'
    | 'settings'
    | 'worklist'
    | 'users'
    | 'audit'
    | 'account'
    | undefined;
  /** A one-line notice at the top (e.g. "Facility created"). */
  notice?: string | undefined;
  /** Page-specific files by their /assets name (CONSOLE_ASSETS, e.g. 'fleet.js'); the CSP allows only same-origin files. */
  scripts?: string[];
  styles?: string[];
  children?: Child;
}

const NAV: { key: NonNullable<LayoutProps['nav']>; href: string; label: string; admin: boolean }[] = [
  { key: 'fleet', href: '/fleet', label: 'Fleet', admin: true },
  { key: 'alerts', href: '/alerts', label: 'Alerts', admin: true },
  { key: 'facilities', href: '/facilities', label: 'Facilities', admin: true },
  { key: 'settings', href: '/settings/gateways', label: 'Gateway defaults', admin: false },
  { key: 'worklist', href: '/worklist', label: 'Worklist', admin: false },
  { key: 'users', href: '/users', label: 'Users', admin: true },
  { key: 'audit', href: '/audit', label: 'Audit log', admin: true },
  { key: 'account', href: '/account', label: 'Account', admin: false },
];

/** The nav's count of open, unacknowledged errors: read as words, not a bare number. */
function AlertCount({ n }: { n: number | undefined }) {
  if (!n) return null;
  return (
    <span class="nav-count" data-alert-count={n}>
      {' '}
      {n}
      <span class="visually-hidden"> unacknowledged {n === 1 ? 'error' : 'errors'}</span>
    </span>
  );
}

/** The console frame: skip link, nav by role, session notice, main landmark. Assets are same-origin. */
export function Layout({ title, user, nav, notice, scripts, styles, children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · Ferry`}</title>
        <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/assets/app.css" />
        {(styles ?? []).map((f) => (
          <link rel="stylesheet" href={`/assets/${f}`} />
        ))}
        <script src="/assets/app.js" defer></script>
        {(scripts ?? []).map((f) => (
          <script src={`/assets/${f}`} defer></script>
        ))}
      </head>
      <body data-session-expires={user ? user.sessionExpiresAt.toISOString() : undefined}>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/">
            Ferry
          </a>
          {user ? (
            <nav aria-label="Main">
              <ul>
                {NAV.filter((n) => !n.admin || user.role === 'admin').map((n) => (
                  <li>
                    <a href={n.href} aria-current={n.key === nav ? 'page' : undefined}>
                      {n.label}
                      {n.key === 'alerts' ? <AlertCount n={user.unacknowledgedErrors} /> : null}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          ) : null}
          {user ? (
            <form method="post" action="/logout" class="signout">
              <Csrf user={user} />
              <span class="who">
                {user.email} ({user.role})
              </span>
              <button type="submit">Sign out</button>
            </form>
          ) : null}
        </header>
        <div id="session-notice" class="notice warn" role="status" hidden></div>
        {notice ? (
          <div class="notice" role="status">
            {notice}
          </div>
        ) : null}
        <main id="main" tabindex={-1}>
          <h1>{title}</h1>
          {children}
        </main>
      </body>
    </html>
  );
}
