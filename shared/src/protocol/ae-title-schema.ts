import { z } from 'zod';
import { aeTitleProblem } from '../dicom/ae-title.js';

/** An AE title as DICOM reads it, the problem named as an admin reads it. */
export const aeTitleSchema = z.string().superRefine((v, ctx) => {
  const problem = aeTitleProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `AE title ${problem}` });
});

export const trimAeTitle = (v: string) => v.trim();

/** An AE title as config keeps it: trimmed. */
export const trimmedAeTitleSchema = aeTitleSchema.transform(trimAeTitle);
