/** ES2024's ArrayBuffer.prototype.transfer, which the ES2023 lib does not declare. */
type Transferable = ArrayBuffer & { transfer(newLength: number): ArrayBuffer; readonly detached: boolean };

/**
 * Gives back, now, the memory of buffers nobody will read again. Each sealed frame and each socket
 * read is a fresh ArrayBuffer outside V8's heap; left to the collector, every 64 MiB of them starts a
 * full mark-compact of the whole heap (about 30 per GiB received, a third of the agent's CPU on a
 * 1 GiB instance) and sits in RSS until then. Detaching one (transfer(0)) frees its backing store at
 * once and takes it off the external-memory count.
 *
 * Only a buffer that is the whole of its ArrayBuffer is released: a slice of Node's shared pool, or
 * of a larger buffer someone else may still read, is left alone. The caller must own every buffer it
 * passes and hold no view of it afterwards; a view into a detached buffer reads as empty.
 */
export function releaseBuffers(buffers: readonly Buffer[]): void {
  for (const b of buffers) {
    const ab = b.buffer as Transferable;
    if (b.byteOffset !== 0 || b.byteLength === 0 || b.byteLength !== ab.byteLength) continue;
    if (typeof ab.transfer !== 'function' || ab.detached) continue;
    ab.transfer(0);
  }
}
