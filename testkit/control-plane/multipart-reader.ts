/** A strict multipart/related reader for tests: the boundary from the Content-Type, CRLF framing. */

export interface ReadPart {
  headers: Record<string, string>;
  body: Buffer;
}

export function readMultipart(body: Buffer, contentType: string): ReadPart[] {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: ReadPart[] = [];
  if (!body.subarray(0, delimiter.length).equals(delimiter))
    throw new Error('body does not start with the boundary');
  let at = delimiter.length;
  for (;;) {
    const rest = body.toString('latin1', at, at + 2);
    if (rest === '--') {
      if (body.toString('latin1', at + 2) !== '\r\n') throw new Error('bytes after the closing boundary');
      return parts;
    }
    if (rest !== '\r\n') throw new Error(`no CRLF after a boundary at ${at}`);
    const headEnd = body.indexOf('\r\n\r\n', at + 2, 'latin1');
    if (headEnd < 0) throw new Error('part without a header end');
    const headers: Record<string, string> = {};
    for (const line of body.toString('latin1', at + 2, headEnd).split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headEnd + 4);
    if (next < 0) throw new Error('part without a closing boundary');
    parts.push({ headers, body: Buffer.from(body.subarray(headEnd + 4, next)) });
    at = next + 2 + delimiter.length;
  }
}
