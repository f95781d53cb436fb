import type { Child } from 'hono/jsx';

/**
 * A table that turns into one block per row on a phone (class `stack`: each cell shows its
 * data-label), with a column header row, inside a wrapper that scrolls sideways when it is too wide
 * (`scrolls={false}` where the content wraps instead).
 */
export function StackTable(props: {
  label: string;
  columns: readonly string[];
  class?: string;
  id?: string;
  bodyId?: string;
  scrolls?: boolean;
  children?: Child;
}) {
  const { label, columns, id, bodyId, scrolls = true, children } = props;
  const table = (
    <table class={props.class ? `stack ${props.class}` : 'stack'} id={id} aria-label={label}>
      <thead>
        <tr>
          {columns.map((col) => (
            <th scope="col">{col}</th>
          ))}
        </tr>
      </thead>
      <tbody id={bodyId}>{children}</tbody>
    </table>
  );
  // A region that scrolls must be reachable by keyboard (WCAG 2.1.1), so the wrapper takes focus.
  return scrolls ? (
    <section class="table-wrap" tabindex={0} aria-label={label}>
      {table}
    </section>
  ) : (
    table
  );
}
