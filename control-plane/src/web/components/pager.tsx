/** "First page · Next page" under a keyset-paged list; nothing when there is neither. */
export function Pager({ first, next }: { first?: string | undefined; next?: string | undefined }) {
  if (!first && !next) return null;
  return (
    <nav class="pager" aria-label="Pages">
      {first ? <a href={first}>First page</a> : null}
      {first && next ? ' · ' : null}
      {next ? (
        <a href={next} rel="next">
          Next page
        </a>
      ) : null}
    </nav>
  );
}
