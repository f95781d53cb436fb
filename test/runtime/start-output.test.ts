// The words `npm start` prints, without starting the demo: a few human lines for what matters, the
// JSON request logs kept out of the terminal (they go to .ferry/logs), and the banner pointing there.
import { describe, expect, it } from 'vitest';
import { banner, humanLine } from '../../scripts/start-output.mjs';

const at = new Date(2026, 11, 7, 14, 3, 7).getTime();
const json = (o: Record<string, unknown>) => JSON.stringify({ level: 30, time: at, ...o });

describe('npm start output', () => {
  it('says in one short line that a study arrived, completed and that a gateway came online', () => {
    expect(
      humanLine(
        'agent',
        json({
          event: 'dicom.association_closed',
          callingAe: 'CT1',
          stored: 12,
          failed: 0,
          bytes: 6_400_000,
        }),
      ),
    ).toBe('14:03:07  received 12 images (6.1 MB) from CT1');
    expect(humanLine('control-plane', json({ event: 'studies.completed', count: 1 }))).toBe(
      '14:03:07  1 study complete: see the worklist',
    );
    expect(humanLine('control-plane', json({ event: 'channel.opened', agentVersion: '0.17.0' }))).toBe(
      '14:03:07  gateway online (agent 0.17.0)',
    );
    expect(humanLine('control-plane', json({ event: 'gateway.status', from: 'online', to: 'offline' }))).toBe(
      '14:03:07  gateway offline',
    );
  });

  it('keeps request logs, heartbeats and an echo with no images out of the terminal', () => {
    expect(
      humanLine('control-plane', json({ req: { method: 'GET', url: '/fleet' }, res: { statusCode: 200 } })),
    ).toBe(undefined);
    expect(humanLine('control-plane', json({ event: 'gateway.status', from: 'offline', to: 'online' }))).toBe(
      undefined,
    );
    expect(humanLine('agent', json({ event: 'dicom.association_closed', stored: 0, failed: 0 }))).toBe(
      undefined,
    );
    expect(humanLine('agent', '')).toBe(undefined);
  });

  it('shows errors and lines that are not JSON as they are', () => {
    expect(humanLine('agent', json({ level: 50, msg: 'spool write failed' }))).toBe(
      '14:03:07  agent error: spool write failed',
    );
    expect(humanLine('enroll', 'enrolled gateway 1234')).toBe('[enroll] enrolled gateway 1234');
  });

  it('ends the banner with where the logs are and that events follow', () => {
    const text = banner({
      home: '/x/.ferry',
      url: 'http://127.0.0.1:8080',
      email: 'admin@ferry.local',
      password: 'pw',
      dicomPort: 4104,
      agentCli: 'node agent/bin/ferry-agent.js',
      agentDir: '/x/.ferry/agent',
      logsDir: '/x/.ferry/logs',
    });
    expect(text).toContain('  Sign in:      http://127.0.0.1:8080  as admin@ferry.local / pw\n');
    expect(text).toContain(
      '  Logs:         /x/.ferry/logs/  (control-plane.log, agent.log: every event as JSON)\n',
    );
    expect(text.trimEnd().split('\n').at(-1)).toBe(
      'Ctrl-C stops both; the next npm start reuses the same data. What happens shows below:',
    );
  });
});
