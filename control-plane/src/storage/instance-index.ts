/**
 * Random access into a stored instance. Provisional: reads and parses the whole object per open;
 * replaced by the streaming frame index.
 */
import { FerryError } from '@ferry/shared';
import type { JWK } from 'jose';
import { arrayBufferOf, dcmjs } from '../dicom/dcmjs.js';
import type { BlobStore } from './blob-store.js';
import { openStoredObject } from './open-stored-object.js';

export interface InstanceIndex {
  pixels: { numberOfFrames: number } | undefined;
  frame(n: number): Promise<Buffer>;
}

export async function openInstanceIndex(
  deps: { blobStore: BlobStore; recipientPrivateKeys: JWK[] },
  instance: { objectId: string; blobKey: string },
): Promise<InstanceIndex> {
  const chunks: Buffer[] = [];
  for await (const c of openStoredObject({
    blobStore: deps.blobStore,
    privateKeys: deps.recipientPrivateKeys,
    key: instance.blobKey,
    objectId: instance.objectId,
  }))
    chunks.push(c);
  const file = dcmjs.data.DicomMessage.readFile(arrayBufferOf(Buffer.concat(chunks)));
  const px = file.dict['7FE00010']?.Value;
  const frames = Array.isArray(px) ? px.map((f) => Buffer.from(f as ArrayBuffer)) : [];
  return {
    pixels: frames.length > 0 ? { numberOfFrames: frames.length } : undefined,
    frame: async (n) => {
      const f = frames[n - 1];
      if (!f) throw new FerryError('dicomweb.frame_not_found', `no frame ${n}`);
      return f;
    },
  };
}
