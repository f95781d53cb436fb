import type { TestApp } from './harness.js';

/**
 * Sends a chunked `application/json` body to the app that declares no length and grows in 64 KiB
 * chunks until it is just past `bytes`: only a limit that counts the streamed bytes can stop it.
 */
export async function sendGrowingBody(
  t: TestApp,
  method: string,
  path: string,
  bytes: number,
  headers: Record<string, string> = {},
): Promise<Response> {
  const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent > bytes + chunk.length) controller.close();
      else {
        sent += chunk.length;
        controller.enqueue(chunk);
      }
    },
  });
  return t.app.request(`${t.deps.publicUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', ...headers },
    body,
    duplex: 'half',
  } as RequestInit);
}
