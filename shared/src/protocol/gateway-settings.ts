import { z } from 'zod';
import { DEFAULT_PRIVATE_SOP_CLASSES } from '../dicom/private-storage-sop-classes.js';
import { aeTitleAliasesSchema } from './ae-title-aliases.js';
import { aeTitleSchema, trimAeTitle, trimmedAeTitleSchema } from './ae-title-schema.js';
import { privateUidListSchema, transferSyntaxPolicySchema } from './context-negotiation.js';
import { dicomPeersSchema } from './dicom-peers.js';
import { userIdentitySettingSchema } from './user-identity.js';

/**
 * Every setting the control plane pushes to its gateways, one row each: the one place its schema,
 * default, bounds and reach are written. gateway-config.ts derives from it the pushed-config schema,
 * its defaults, what a group or facility may store and how they merge; agent/src/config.ts derives
 * agent.json's reading of the same fields; the console takes its labels and bounds. A new pushed
 * setting is a row here plus the code that acts on it. The name is the field's path in the pushed
 * config and in agent.json alike (`upload.x` sits in their `upload` object); rows keep wire order.
 */

/**
 * Where a setting is set. 'group and facility': a group's default for all its gateways, which a
 * facility may override (the `gateway` settings). 'facility': a property of the facility itself.
 */
export type SettingScope = 'group and facility' | 'facility';

export interface NumberBounds {
  min: number;
  max?: number;
  integer: boolean;
}

/** agent.json's own wording of a bad number; the pushed config and the API keep zod's wording. */
export interface NumberWords {
  type: string;
  integer?: string;
  min: string;
  max?: string;
}

/**
 * How the console edits a value: a number box, a choice among the schema's options, a list typed one
 * item a line, JSON for a structured value, or the userIdentity requirement's own fields. The
 * console only turns the text typed into a value of that shape; whether it is valid is the schema's
 * (and the API's) answer alone.
 */
export type ConsoleInput = 'number' | 'choice' | 'list' | 'json' | 'user-identity';

/**
 * How the console shows a setting it lets an admin edit. A 'group and facility' row without one still
 * appears, under its name as a JSON box, so a new row is never missing from the console.
 */
export interface ConsoleField {
  label: string;
  hint: string;
  /** 'number' when the row has bounds; 'json' otherwise unless given. */
  input?: ConsoleInput;
}

export interface PushedSetting<S extends z.ZodType = z.ZodType> {
  /** A valid value, as the control plane stores and pushes it and the gateway checks it. */
  schema: S;
  /** What a gateway runs when nobody set it (none for a facility's AE title: every facility has one). */
  default?: z.output<S>;
  appliesTo: SettingScope;
  /** A number's bounds, for the console's inputs and the checks of the facility column. */
  bounds?: NumberBounds;
  /** agent.json's reading when it is not `schema` with `default`: its own words, default or bounds. */
  agentJson?: z.ZodType;
  /**
   * Config versions stored before this setting existed lack it; the gateway reads it as the default.
   * Every setting added from now on needs it.
   */
  olderVersionsLackIt?: true;
  /**
   * The protocol version whose agents first read this setting: the control plane leaves it out of
   * the config it pushes to an older agent, which would refuse the whole config for an unknown key.
   */
  sinceProtocol?: number;
  console?: ConsoleField;
}

/** A number within `bounds`, in zod's words unless given agent.json's. */
function boundedNumber(bounds: NumberBounds, words?: NumberWords): z.ZodNumber {
  let schema = z.number(words && { error: words.type });
  if (bounds.integer) schema = schema.int(words?.integer);
  schema = schema.min(bounds.min, words?.min);
  if (bounds.max !== undefined) schema = schema.max(bounds.max, words?.max);
  return schema;
}

interface NumericRow {
  bounds: NumberBounds;
  default: number;
  appliesTo: SettingScope;
  /** agent.json's wording of a bad value, where it has its own. */
  agentWords?: NumberWords;
  /** agent.json leaves it unset until the control plane pushes it. */
  agentJsonOptional?: true;
  olderVersionsLackIt?: true;
  console?: ConsoleField;
}

type NumericSetting<R extends NumericRow> = Omit<R, 'agentWords' | 'agentJsonOptional'> & {
  schema: z.ZodNumber;
} & (R extends { agentJsonOptional: true }
    ? { agentJson: z.ZodOptional<z.ZodNumber> }
    : R extends { agentWords: NumberWords }
      ? { agentJson: z.ZodDefault<z.ZodNumber> }
      : unknown);

/** A numeric row: its schema, and agent.json's where it differs, built from its bounds. */
function numeric<const R extends NumericRow>(row: R): NumericSetting<R> {
  const { agentWords, agentJsonOptional, ...rest } = row;
  const schema = boundedNumber(row.bounds);
  const agentJson = agentJsonOptional
    ? schema.optional()
    : agentWords && boundedNumber(row.bounds, agentWords).default(row.default);
  return { ...rest, schema, ...(agentJson ? { agentJson } : {}) } as NumericSetting<R>;
}

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour clock)');

/**
 * A bandwidth window in the gateway's local time, e.g. a cap during business hours only. `to` before
 * `from` spans midnight. `days` uses 0 = Sunday … 6 = Saturday; the first matching window wins.
 */
export const bandwidthWindowSchema = z
  .object({
    days: z.array(z.number().int().min(0).max(6)).min(1).max(7),
    from: clock,
    to: clock,
    bandwidthBytesPerSecond: z.number().int().min(0),
  })
  .strict();
export type BandwidthWindow = z.infer<typeof bandwidthWindowSchema>;

/**
 * `upload.compression`'s modes. Every one is lossless (the cloud restores the bytes as received), so
 * the choice trades the gateway's CPU for uplink time only.
 */
export const UPLOAD_COMPRESSION_MODES = ['auto', 'image', 'zstd', 'none'] as const;
export type UploadCompressionMode = (typeof UPLOAD_COMPRESSION_MODES)[number];
export const uploadCompressionSchema = z.enum(UPLOAD_COMPRESSION_MODES, {
  error: `must be one of ${UPLOAD_COMPRESSION_MODES.map((m) => `"${m}"`).join(', ')}`,
});

const allowedCallingAeTitles = z.array(trimmedAeTitleSchema);

export const PUSHED_SETTINGS = {
  aeTitle: {
    schema: trimmedAeTitleSchema,
    appliesTo: 'facility',
    /** What an agent answers as before it is enrolled. */
    agentJson: aeTitleSchema.default('GATEWAY').transform(trimAeTitle),
  },
  /**
   * Previous titles of the facility still accepted as the called AE title until their expiry, so a
   * title change does not fail every modality not yet reconfigured. The gateway stops accepting one at
   * its expiry by itself; the control plane leaves expired ones out of the next config.
   */
  aeTitleAliases: {
    schema: aeTitleAliasesSchema,
    default: [],
    appliesTo: 'facility',
    olderVersionsLackIt: true,
  },
  port: numeric({
    bounds: { min: 1, max: 65_535, integer: true },
    default: 4104,
    appliesTo: 'group and facility',
    console: {
      label: 'DICOM port',
      hint: 'The TCP port the gateway listens on for modalities. Two gateways on one host need different ports.',
    },
  }),
  allowedCallingAeTitles: {
    schema: allowedCallingAeTitles.max(1000),
    default: [],
    appliesTo: 'group and facility',
    console: {
      label: 'Allowed calling AE titles',
      hint: 'One a line. Only these modalities may store; an empty list lets any caller store.',
      input: 'list',
    },
    /** A hand-written agent.json may list more callers than the control plane stores. */
    agentJson: allowedCallingAeTitles.default([]),
  },
  maxAssociations: numeric({
    bounds: { min: 1, max: 10_000, integer: true },
    default: 32,
    appliesTo: 'group and facility',
    console: {
      label: 'Maximum associations',
      hint: 'Associations open at once; one more is rejected until another closes.',
    },
  }),
  /**
   * Which of the transfer syntaxes a presentation context proposes the gateway accepts: the first in
   * the proposer's order (`as-proposed`, so nothing is decompressed or recompressed on the way), or
   * uncompressed / compressed first when proposed.
   */
  transferSyntaxPolicy: {
    schema: transferSyntaxPolicySchema,
    default: 'as-proposed',
    appliesTo: 'group and facility',
    olderVersionsLackIt: true,
    console: {
      label: 'Transfer syntax policy',
      hint: "Which proposed transfer syntax is accepted: the sender's first, or uncompressed or compressed first.",
      input: 'choice',
    },
  },
  /** Private transfer syntax UIDs accepted besides the standard ones of PS3.6. */
  privateTransferSyntaxes: {
    schema: privateUidListSchema,
    default: [],
    appliesTo: 'group and facility',
    olderVersionsLackIt: true,
    console: {
      label: 'Private transfer syntaxes',
      hint: 'UIDs accepted besides the standard transfer syntaxes, one a line.',
      input: 'list',
    },
  },
  /**
   * Private Storage SOP Class UIDs accepted besides the standard ones; by default the vendor-private
   * storage classes modalities send (DEFAULT_PRIVATE_SOP_CLASSES). A list replaces the default whole.
   */
  privateSopClasses: {
    schema: privateUidListSchema,
    default: [...DEFAULT_PRIVATE_SOP_CLASSES],
    appliesTo: 'group and facility',
    olderVersionsLackIt: true,
    console: {
      label: 'Private SOP classes',
      hint: 'Private storage SOP class UIDs accepted besides the standard ones, one a line; the list replaces the default whole.',
      input: 'list',
    },
  },
  /** Objects uploaded at the same time (small ones go four times as many). */
  'upload.parallelism': numeric({
    bounds: { min: 1, max: 64, integer: true },
    default: 4,
    appliesTo: 'group and facility',
    console: {
      label: 'Upload parallelism',
      hint: 'Objects uploaded at the same time.',
    },
    agentWords: {
      type: 'must be a number',
      integer: 'must be a whole number',
      min: 'must be at least 1',
      max: 'must be at most 64',
    },
  }),
  /** Cap on upload bytes per second, shared by all uploads; 0 = unlimited. Applies outside every window. */
  'upload.bandwidthBytesPerSecond': numeric({
    bounds: { min: 0, integer: true },
    default: 0,
    appliesTo: 'group and facility',
    console: {
      label: 'Upload bandwidth (bytes per second)',
      hint: 'Cap shared by all uploads outside the schedule windows; 0 is unlimited.',
    },
    agentWords: {
      type: 'must be a number (bytes per second, 0 for unlimited)',
      integer: 'must be a whole number of bytes per second',
      min: 'must be 0 (unlimited) or more',
    },
  }),
  /** Windows in local time with their own cap (e.g. business hours only); the first match wins. */
  'upload.schedule': {
    schema: z.array(bandwidthWindowSchema).max(32),
    default: [],
    appliesTo: 'group and facility',
    console: {
      label: 'Upload schedule windows',
      hint: 'JSON list of windows in the gateway\'s local time, e.g. [{"days":[1,2,3,4,5],"from":"08:00","to":"18:00","bandwidthBytesPerSecond":1000000}]; the first match wins.',
    },
  },
  /** Hours a delivered object's local copy is kept after its receipt; 0 = delete at once. */
  'upload.retentionHours': numeric({
    bounds: { min: 0, max: 24 * 366, integer: false },
    default: 0,
    appliesTo: 'group and facility',
    console: {
      label: 'Retention after delivery (hours)',
      hint: 'How long a delivered image stays on the gateway; 0 deletes it once the cloud holds it.',
    },
    agentWords: {
      type: 'must be a number of hours',
      min: 'must be 0 (delete once delivered) or more',
      max: 'must be at most a year (8784 hours)',
    },
  }),
  /**
   * How the gateway codes what it spools for upload, losslessly: `auto` picks per object from the
   * measured uplink and codec rates; `image` codes native pixel data with JPEG-LS and the rest with
   * zstd; `zstd` everything with zstd; `none` sends it as received. The cloud restores the exact bytes.
   */
  'upload.compression': {
    schema: uploadCompressionSchema,
    default: 'auto',
    appliesTo: 'group and facility',
    olderVersionsLackIt: true,
    sinceProtocol: 9,
    console: {
      label: 'Upload compression',
      hint: 'Lossless coding before upload: auto follows the link and the codec; image codes pixels with JPEG-LS; zstd everything with zstd; none sends as received.',
      input: 'choice',
    },
  },
  /**
   * The only DICOM nodes the gateway dials on the control plane's behalf (the C-ECHO diagnostic). A
   * facility's list replaces its group's; a version from before peers existed has none.
   */
  peers: {
    schema: dicomPeersSchema,
    default: [],
    appliesTo: 'group and facility',
    olderVersionsLackIt: true,
    console: {
      label: 'DICOM peers',
      hint: 'JSON list of the nodes the gateway may dial (echo, commitment reports), e.g. [{"name":"PACS","aeTitle":"PACS","host":"10.0.0.5","port":104}].',
    },
  },
  /**
   * The DICOM User Identity a sender must present to store (PS3.7 D.3.3.7): none (the default), a
   * username, a username and password (kept only as scrypt hashes) or a signed JWT. A facility's
   * value replaces its group's whole.
   */
  userIdentity: {
    schema: userIdentitySettingSchema,
    default: { require: 'none' },
    appliesTo: 'group and facility',
    olderVersionsLackIt: true,
    console: {
      label: 'User identity',
      hint: 'What a sender must present to store: nothing, a username, a username and password, or a signed JWT.',
      input: 'user-identity',
    },
  },
  /**
   * Storage commitment (PS3.4 Annex J): an instance not delivered to the cloud this many minutes after
   * the modality asked is reported failed, so the modality keeps its copy and may send again. Four
   * hours rides out a working day's upload backlog or a short outage and still answers within a shift.
   */
  'storageCommitment.maxWaitMinutes': numeric({
    bounds: { min: 1, max: 7 * 24 * 60, integer: true },
    default: 240,
    appliesTo: 'group and facility',
    olderVersionsLackIt: true,
    console: {
      label: 'Storage commitment wait (minutes)',
      hint: 'An image not in the cloud this long after a modality asks for commitment is reported failed.',
    },
  }),
  /** The control plane completes a study this long after its last instance; the agent reports it and keeps it. */
  stablePeriodSeconds: numeric({
    bounds: { min: 1, max: 86_400, integer: true },
    default: 60,
    appliesTo: 'facility',
    agentJsonOptional: true,
    console: {
      label: 'Stable period (seconds)',
      hint: 'A study is complete once no new image has arrived for this long.',
    },
  }),
} satisfies Record<string, PushedSetting>;

export type PushedSettingName = keyof typeof PUSHED_SETTINGS;
