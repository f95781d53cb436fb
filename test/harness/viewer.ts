// The OHIF viewer as tests reach it: an in-process control plane (a TestApp) on a real port, so a
// browser can sign in and load /viewer/, and opening a study in the viewer by its URL.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { createApp } from '../../control-plane/src/app.js';
import type { TestApp } from '../../testkit/control-plane/harness.js';

export interface ServedApp {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `t`'s app on 127.0.0.1 with its public URL set to where it listens (the console's origin
 * checks and cookies then hold for a browser there).
 */
export async function serveTestApp(t: TestApp): Promise<ServedApp> {
  let app: ReturnType<typeof createApp> | undefined;
  const server = serve({
    fetch: (req, env) => (app ? app.fetch(req, env) : new Response('starting', { status: 503 })),
    port: 0,
    hostname: '127.0.0.1',
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  app = createApp({ ...t.deps, publicUrl: url });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/** The URL the console's "Open in viewer" links use. */
export function viewerUrl(baseUrl: string, studyUid: string): string {
  return `${baseUrl}/viewer/viewer?StudyInstanceUIDs=${encodeURIComponent(studyUid)}`;
}

/**
 * Opens `studyUid` in the viewer (the page must be signed in) and waits until OHIF has a viewport
 * showing one of the study's images: cornerstone3D (on window, as OHIF's own tests use it) reports a
 * current image id naming the study. Throws with what the page shows when that does not happen.
 */
export async function openViewer(
  page: Page,
  baseUrl: string,
  studyUid: string,
  timeoutMs = 30_000,
): Promise<void> {
  await page.goto(viewerUrl(baseUrl, studyUid));
  // Polled with page.evaluate (the DevTools protocol): waitForFunction evaluates a string in the page,
  // which the viewer's CSP (no 'unsafe-eval') rightly refuses.
  const shows = `(() => {
    const cs = window.cornerstone;
    if (!cs || typeof cs.getEnabledElements !== 'function') return false;
    return cs.getEnabledElements().some((e) => {
      const id = e.viewport && typeof e.viewport.getCurrentImageId === 'function' && e.viewport.getCurrentImageId();
      return typeof id === 'string' && id.includes(${JSON.stringify(studyUid)});
    });
  })()`;
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(shows))) {
    if (Date.now() > deadline) {
      const text = ((await page.textContent('body').catch(() => '')) ?? '').slice(0, 500);
      throw new Error(
        `the viewer at ${page.url()} shows no image of the study after ${timeoutMs} ms; page: ${text}`,
      );
    }
    await page.waitForTimeout(250);
  }
}

export interface CanvasStats {
  width: number;
  height: number;
  /** Grey level (0-255) mean and standard deviation over the viewport's canvas. */
  mean: number;
  std: number;
}

/** The grey levels of the first viewport's canvas that shows an image (a blank canvas has std 0). */
export async function canvasStats(page: Page): Promise<CanvasStats> {
  return (await page.evaluate(`(() => {
    const vp = window.cornerstone.getEnabledElements().map((e) => e.viewport)
      .find((v) => v && typeof v.getCurrentImageId === 'function' && v.getCurrentImageId());
    const canvas = vp.canvas;
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0, sq = 0;
    const n = px.length / 4;
    for (let i = 0; i < px.length; i += 4) {
      const g = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      sum += g;
      sq += g * g;
    }
    const mean = sum / n;
    return { width: canvas.width, height: canvas.height, mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
  })()`)) as CanvasStats;
}
