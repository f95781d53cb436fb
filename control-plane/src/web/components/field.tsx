import type { Child } from 'hono/jsx';
import { PASSWORD_MIN_LENGTH } from '../../services/input-rules.js';
import type { PageUser } from '../page-context.js';

/**
 * How a form control points at the hint and error under it (ids `${id}-hint`, `${id}-error`), so a
 * screen reader reads them with the control; spread it on the input or select.
 */
export function fieldAria(id: string, error: string | undefined, hasHint = false) {
  const describedBy = [hasHint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return { 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': describedBy || undefined };
}

/** A small field error under an input, announced to screen readers. */
export function FieldError({ id, message }: { id: string; message?: string | undefined }) {
  return message ? (
    <p class="field-error" id={id} role="alert">
      {message}
    </p>
  ) : null;
}

/**
 * A labelled control: the label, an optional hint, the control itself (children, which spread
 * `fieldAria(id, error, hint !== undefined)`), and its error.
 */
export function Labelled(props: {
  id: string;
  label: string;
  hint?: Child;
  error?: string | undefined;
  children: Child;
}) {
  const { id, label, hint, error, children } = props;
  return (
    <>
      <label for={id}>{label}</label>
      {hint !== undefined ? (
        <p class="muted" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {children}
      <FieldError id={`${id}-error`} message={error} />
    </>
  );
}

/** A required text or number input, named like its id, with its label, hint and error, in its own block. */
export function Field(props: {
  id: string;
  label: string;
  value: string;
  error?: string | undefined;
  type?: string;
  hint?: string;
  attrs?: Record<string, string | number | boolean>;
}) {
  const { id, label, value, error, type = 'text', hint, attrs = {} } = props;
  return (
    <div>
      <Labelled id={id} label={label} hint={hint} error={error}>
        <input
          type={type}
          id={id}
          name={id}
          value={value}
          required
          {...fieldAria(id, error, hint !== undefined)}
          {...attrs}
        />
      </Labelled>
    </div>
  );
}

/**
 * A field for a password someone sets (their own or a user's temporary one): the length rule shown as a
 * hint, and its error under it, both tied to the input for screen readers.
 */
export function NewPasswordField(props: {
  id: string;
  name: string;
  label: string;
  error?: string | undefined;
}) {
  const { id, name, label, error } = props;
  return (
    <Labelled id={id} label={label} hint={<>At least {PASSWORD_MIN_LENGTH} characters.</>} error={error}>
      <input
        type="password"
        id={id}
        name={name}
        required
        minlength={PASSWORD_MIN_LENGTH}
        autocomplete="new-password"
        {...fieldAria(id, error, true)}
      />
    </Labelled>
  );
}

/** The hidden CSRF field every POST form carries. */
export function Csrf({ user }: { user: PageUser }) {
  return <input type="hidden" name="_csrf" value={user.csrf} />;
}
