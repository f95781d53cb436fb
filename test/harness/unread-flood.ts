import { encodeCEchoRq, encodePData, type RawScu } from './raw-scu.js';

/**
 * Plays a peer that never reads its responses: with its socket paused, it sends bursts of C-ECHO
 * requests (about 90 KB each, on presentation context 1) until the SCP hangs up or `limit` bytes are
 * sent, then reads again. Returns the bytes sent: fewer than `limit` means the SCP stopped reading.
 */
export async function sendWithoutReading(scu: RawScu, limit = 64 << 20): Promise<number> {
  scu.socket.pause();
  const burst = Buffer.concat(
    Array.from({ length: 1000 }, (_, i) =>
      encodePData([{ contextId: 1, isCommand: true, isLast: true, data: encodeCEchoRq(i + 1) }]),
    ),
  );
  let sent = 0;
  try {
    while (sent < limit) {
      await scu.sendRaw(burst);
      sent += burst.length;
    }
  } catch {
    // The SCP hung up on us.
  }
  scu.socket.resume();
  return sent;
}
