import { z } from 'zod';

/** What the worklist needs about one instance. Travels only inside the encrypted object. */
export const instanceManifestSchema = z.object({
  objectId: z.string(),
  receivedAt: z.string(),
  callingAeTitle: z.string(),
  calledAeTitle: z.string(),
  transferSyntaxUid: z.string(),
  sopClassUid: z.string(),
  sopInstanceUid: z.string(),
  patient: z.object({
    name: z.string().optional(),
    id: z.string().optional(),
    birthDate: z.string().optional(),
    sex: z.string().optional(),
  }),
  study: z.object({
    instanceUid: z.string().optional(),
    date: z.string().optional(),
    time: z.string().optional(),
    description: z.string().optional(),
    accessionNumber: z.string().optional(),
    referringPhysician: z.string().optional(),
  }),
  series: z.object({
    instanceUid: z.string().optional(),
    modality: z.string().optional(),
    number: z.string().optional(),
    description: z.string().optional(),
  }),
  numberOfFrames: z.number().int().optional(),
  /** Set when the header could not be read in full; the bytes are still stored as received. */
  headerWarning: z.string().optional(),
});
export type InstanceManifest = z.infer<typeof instanceManifestSchema>;
