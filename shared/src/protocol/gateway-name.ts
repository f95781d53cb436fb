import { z } from 'zod';

/** A gateway's display name: what people call it in the console, the API and alerts. */
export const GATEWAY_NAME_MAX = 64;

/**
 * The rules for a name given at enrollment (`ferry-agent enroll --name`), in the console or with
 * PATCH /api/v1/gateways/{id}: trimmed, 1 to 64 characters, no control characters. Unique within the
 * facility is the control plane's check (it alone knows the other names).
 */
export const gatewayNameSchema = z
  .string()
  .trim()
  .min(1, 'name must not be empty')
  .max(GATEWAY_NAME_MAX, `name must be at most ${GATEWAY_NAME_MAX} characters`)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'name must not contain control characters');
