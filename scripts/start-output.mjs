// What `npm start` prints. The processes' own logs (JSON, one event a line) go to .ferry/logs/<name>.log;
// the terminal gets the banner once everything is up, then one short line per event a person running
// the demo cares about: a study received, complete, a gateway online or offline, an error. Pure
// functions, so the wording is tested without starting the demo (test/harness/start-output.test.ts).

const pad = (n) => String(n).padStart(2, '0');

/** `14:03:07` in local time: the terminal is the viewer's. */
function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function bytes(n) {
  if (n < 1024 * 1024) return `${Math.max(1, Math.round(n / 1024))} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * The short human line for one log line of process `name`, or undefined for the many that do not
 * matter to a person watching the demo (request logs, heartbeats). Lines that are not JSON (a stack
 * trace, a message before the logger exists) are shown as they are.
 */
export function humanLine(name, line) {
  if (line.trim() === '') return undefined;
  let e;
  try {
    e = JSON.parse(line);
  } catch {
    return `[${name}] ${line}`;
  }
  if (typeof e !== 'object' || e === null) return `[${name}] ${line}`;
  const at = clock(typeof e.time === 'number' ? e.time : Date.now());
  const say = (text) => `${at}  ${text}`;
  switch (e.event) {
    case 'dicom.association_closed':
      if (!e.stored && !e.failed) return undefined;
      return say(
        `received ${plural(e.stored ?? 0, 'image')} (${bytes(e.bytes ?? 0)}) from ${e.callingAe ?? '?'}` +
          (e.failed ? `, ${e.failed} refused` : ''),
      );
    case 'dicom.association_rejected':
      return say(`refused a DICOM association from ${e.callingAe ?? '?'}: ${e.reason ?? e.msg ?? ''}`.trim());
    case 'studies.completed':
      return say(`${plural(e.count ?? 1, 'study', 'studies')} complete: see the worklist`);
    case 'channel.opened':
      return say(`gateway online${e.agentVersion ? ` (agent ${e.agentVersion})` : ''}`);
    case 'gateway.status':
      return e.to === 'offline' ? say('gateway offline') : undefined;
    case 'gateway.offline':
      return say('gateway offline (silent)');
    case 'config.applied':
      return say(`gateway applied config version ${e.version}`);
    case 'config.rejected':
      return say(`gateway refused config version ${e.version}: ${e.reason ?? ''}`.trim());
  }
  // pino: 50 error, 60 fatal.
  if (typeof e.level === 'number' && e.level >= 50) return say(`${name} error: ${e.msg ?? e.event ?? line}`);
  return undefined;
}

/** The banner printed once both processes are up: where to go, how to send, where the logs are. */
export function banner(o) {
  return `
Ferry is running (data in ${o.home}).
  Sign in:      ${o.url}  as ${o.email} / ${o.password}
  API:          ${o.url}/api/v1/openapi.json
  Send DICOM:   TCP_NODELAY=1 storescu -aec GATEWAY 127.0.0.1 ${o.dicomPort} FILE.dcm
  Echo:         TCP_NODELAY=1 echoscu -aec GATEWAY 127.0.0.1 ${o.dicomPort}
  Spool:        ${o.agentCli} status --data-dir ${o.agentDir}
  Check:        ${o.agentCli} doctor --data-dir ${o.agentDir}
  Release:      ${o.url}/downloads/ferry-agent-linux-x64.tar.gz  (what install lines download)
  Worklist:     curl -H "Authorization: Bearer $TOKEN" ${o.url}/api/v1/studies
  Fleet:        curl -H "Authorization: Bearer $TOKEN" ${o.url}/api/v1/fleet/summary
  Read:         ${o.url}/worklist  (each study has "Open in viewer": OHIF at ${o.url}/viewer/, same sign-in)
  DICOMweb:     ${o.url}/dicomweb  (QIDO-RS and WADO-RS with frames, bulk data, rendered; same bearer token)
  Blobs:        ${o.home}/control-plane/blobs
  Logs:         ${o.logsDir}/  (control-plane.log, agent.log: every event as JSON)
  (TOKEN: POST ${o.url}/api/v1/auth/login with the email and password above)
Ctrl-C stops both; the next npm start reuses the same data. What happens shows below:
`;
}
