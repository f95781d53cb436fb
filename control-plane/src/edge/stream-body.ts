/**
 * A response body pulled from an async iterable: the next chunk is produced only when the socket has
 * taken the previous one (@hono/node-server waits for 'drain'), so a slow client holds one chunk, not
 * the whole object. When the iterable fails midway the stream errors and the server aborts the
 * response, so the client sees a broken transfer rather than a short file that looks complete. When
 * the client goes away the iterable is closed (its `finally` blocks run).
 */
export function streamBody(
  source: AsyncIterable<Uint8Array>,
  onError: (err: unknown) => void,
): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await it.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (err) {
          onError(err);
          controller.error(err);
        }
      },
      async cancel() {
        await it.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}
