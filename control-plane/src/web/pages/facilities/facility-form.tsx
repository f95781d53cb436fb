import { FerryError } from '@ferry/shared';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv } from '../../../edge/types.js';
import { Csrf, Field } from '../../components/field.js';
import { formText, settingInput } from '../../facility-fields.js';
import { Layout } from '../../layout.js';
import { type PageUser, pageUser } from '../../page-context.js';
import { AeTitleChange, type AeTitleNow } from './ae-title-change.js';

/** A facility's own fields as typed (echoed back into the form when a service refuses them). */
export interface FacilityValues {
  name: string;
  aeTitle: string;
  stablePeriodSeconds: string;
  /** An existing facility's form: keep the old title as an alias when it changes (ae-title-change.tsx). */
  keepOldAeTitle?: boolean;
}
export type FacilityErrors = Partial<Record<Exclude<keyof FacilityValues, 'keepOldAeTitle'>, string>>;

export function facilityValuesOf(form: Record<string, unknown>): FacilityValues {
  return {
    name: formText(form, 'name'),
    aeTitle: formText(form, 'aeTitle'),
    stablePeriodSeconds: formText(form, 'stablePeriodSeconds'),
    keepOldAeTitle: formText(form, 'keepOldAeTitle') === 'on',
  };
}

/**
 * Which form field a service's refusal is about, in the console's words. The AE title reason is the
 * API's own text (the API prefixes it with the field name, `aeTitle: `).
 */
export function facilityFieldErrors(err: unknown): FacilityErrors {
  if (!(err instanceof FerryError)) throw err;
  const m = err.message;
  if (err.code === 'dicom.ae_title_invalid') return { aeTitle: m.replace(/^aeTitle: /, '') };
  if (err.code === 'resource.conflict' && m.startsWith('AE title')) return { aeTitle: m };
  if (err.code === 'request.invalid' && m.startsWith('aeTitleAliases')) return { aeTitle: m };
  if (err.code === 'request.invalid' && m.startsWith('name: ')) return { name: `Name ${m.slice(6)}` };
  if (err.code === 'request.invalid' && m.startsWith('stablePeriodSeconds'))
    return { stablePeriodSeconds: `Stable period ${m.slice('stablePeriodSeconds '.length)} seconds` };
  throw err;
}

export function statusOf(err: FacilityErrors, fallback: ContentfulStatusCode = 400): ContentfulStatusCode {
  return err.aeTitle?.includes('already used') ? 409 : fallback;
}

/** Name, AE title and stable period: the form of a new facility and of an existing one's details. */
export function FacilityForm({
  user,
  action,
  button,
  values,
  errors,
  aeTitleNow,
}: {
  user: PageUser;
  action: string;
  button: string;
  values: FacilityValues;
  errors: FacilityErrors;
  /** An existing facility's title and aliases, for the warning a title change needs. */
  aeTitleNow?: AeTitleNow;
}) {
  return (
    <form method="post" action={action} class="narrow" novalidate data-facility-form="">
      <Csrf user={user} />
      <Field id="name" label="Name" value={values.name} error={errors.name} attrs={{ maxlength: 200 }} />
      <Field
        id="aeTitle"
        label="AE title"
        value={values.aeTitle}
        error={errors.aeTitle}
        hint="What the modalities send to: 1 to 16 printable ASCII characters, no backslash. Unique in your group."
        attrs={{ autocomplete: 'off', spellcheck: false, 'data-ae-title': '' }}
      />
      {aeTitleNow ? <AeTitleChange now={aeTitleNow} keep={values.keepOldAeTitle ?? true} /> : null}
      <Field
        id="stablePeriodSeconds"
        {...settingInput('stablePeriodSeconds')}
        type="number"
        value={values.stablePeriodSeconds}
        error={errors.stablePeriodSeconds}
      />
      <button type="submit">{button}</button>
    </form>
  );
}

/** The new-facility page: the form alone. */
export function renderNewFacility(
  c: Context<AppEnv>,
  values: FacilityValues,
  errors: FacilityErrors,
  status: ContentfulStatusCode = 200,
): Response | Promise<Response> {
  c.status(status);
  return c.html(
    <Layout
      title="New facility"
      user={pageUser(c)}
      nav="facilities"
      scripts={['facilities.js']}
      styles={['facilities.css']}
    >
      <p>
        <a href="/facilities">All facilities</a>
      </p>
      <FacilityForm
        user={pageUser(c)}
        action="/facilities"
        button="Create facility"
        values={values}
        errors={errors}
      />
    </Layout>,
  );
}
