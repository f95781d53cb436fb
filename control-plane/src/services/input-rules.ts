import { aeTitleProblem, FerryError } from '@ferry/shared';

/**
 * Input rules the services enforce themselves, whoever calls them (HTTP routes check the same rules
 * with zod first, so these fire only for other callers). Messages name the field, as the routes do.
 */

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 1024;
export const NAME_MAX_LENGTH = 200;

/** A trimmed AE title, or a 400 saying which DICOM rule it breaks. */
export function checkAeTitle(raw: string, field = 'aeTitle'): string {
  const problem = aeTitleProblem(raw);
  if (problem) throw new FerryError('dicom.ae_title_invalid', `${field}: AE title ${problem}`);
  return raw.trim();
}

/** A trimmed display name of 1 to 200 characters. */
export function checkName(raw: string, field = 'name'): string {
  const name = raw.trim();
  if (name.length === 0) throw new FerryError('request.invalid', `${field}: must not be empty`);
  if (name.length > NAME_MAX_LENGTH)
    throw new FerryError('request.invalid', `${field}: must be at most ${NAME_MAX_LENGTH} characters`);
  return name;
}

/** A trimmed, lower-cased e-mail address: addresses are matched case-insensitively. */
export function checkEmail(raw: string, field = 'email'): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 320 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
    throw new FerryError('request.invalid', `${field}: must be an e-mail address`);
  return email;
}

export function checkPassword(raw: string, field = 'password'): string {
  if (raw.length < PASSWORD_MIN_LENGTH)
    throw new FerryError('request.invalid', `${field}: must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (raw.length > PASSWORD_MAX_LENGTH)
    throw new FerryError('request.invalid', `${field}: must be at most ${PASSWORD_MAX_LENGTH} characters`);
  return raw;
}

export function emailTaken(email: string): FerryError {
  return new FerryError('resource.conflict', `a user with e-mail address "${email}" already exists`);
}
