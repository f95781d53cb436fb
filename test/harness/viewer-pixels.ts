// What the viewer shows, as numbers: the image region of OHIF's viewport canvas and the server's
// /rendered image of the same frame, both drawn by the page onto the same small grey grid, so a test
// can say "these are the same pixels" (means, spreads, correlation) or "this is another slice" (error).
//
// The page's own code does the drawing: both images pass through the same browser scaler, and the
// /rendered fetch carries the reader's own session cookie, as the viewer's requests do. The scripts
// are strings (the page runs them as written; a compiled test function could carry helpers the page
// lacks), evaluated over the DevTools protocol, which the page's Content-Security-Policy does not govern.
import type { Page } from 'playwright-core';

/** The displayed image's place on the canvas, in canvas pixels (left, top, right, bottom). */
export type CanvasRect = [number, number, number, number];

export interface ViewportState {
  /** The viewport's current image (a wadors: URL naming study, series, instance and frame). */
  imageId: string;
  /** Its index in the viewport's stack, and the stack's length. */
  index: number;
  count: number;
  canvas: { width: number; height: number };
  /** The canvas on the page, in CSS pixels (where to point the mouse). */
  box: { x: number; y: number; width: number; height: number };
  /** Where the image's outer edges fall on the canvas; may reach past it when zoomed. */
  imageRect: CanvasRect;
}

/** A square grey grid (0-255, row-major), `size` x `size`. */
export interface GreyGrid {
  size: number;
  values: number[];
}

/** The part of the image that is on the canvas, as fractions of its width and height. */
type Crop = [number, number, number, number];

// The viewport with an image: OHIF exposes cornerstone3D on window (its own end-to-end tests use it).
const VIEWPORT_JS = `(() => {
  const cs = window.cornerstone;
  if (!cs || typeof cs.getEnabledElements !== 'function') return { error: 'window.cornerstone is not there (OHIF not loaded?)' };
  const withImage = cs.getEnabledElements()
    .map((e) => e.viewport)
    .filter((v) => v && typeof v.getCurrentImageId === 'function' && v.getCurrentImageId());
  if (withImage.length === 0) return { error: 'no viewport shows an image yet' };
  const vp = withImage[0];
  const data = vp.getImageData();
  if (!data || !data.imageData) return { error: 'the viewport has no image data yet' };
  const dims = data.dimensions;
  const toCanvas = (ijk) => vp.worldToCanvas(data.imageData.indexToWorld(ijk));
  // Pixel centres are at whole indices: the image's outer edges are half a pixel further out.
  const a = toCanvas([-0.5, -0.5, 0]);
  const b = toCanvas([dims[0] - 0.5, dims[1] - 0.5, 0]);
  const canvas = vp.canvas;
  const dpr = canvas.width / (canvas.clientWidth || canvas.width);
  const r = canvas.getBoundingClientRect();
  return {
    box: { x: r.x, y: r.y, width: r.width, height: r.height },
    imageId: vp.getCurrentImageId(),
    index: vp.getCurrentImageIdIndex(),
    count: vp.getImageIds().length,
    canvas: { width: canvas.width, height: canvas.height },
    imageRect: [a[0] * dpr, a[1] * dpr, b[0] * dpr, b[1] * dpr],
  };
})()`;

const GREY_JS = `
  const grey = (ctx, size) => {
    const px = ctx.getImageData(0, 0, size, size).data;
    const out = new Array(size * size);
    for (let i = 0; i < out.length; i++)
      out[i] = 0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2];
    return out;
  };
  const scratch = (size) => {
    const c = new OffscreenCanvas(size, size);
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, size, size);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    return ctx;
  };`;

/** The viewport's state, or why there is none yet. */
export async function viewportState(page: Page): Promise<ViewportState | { error: string }> {
  return (await page.evaluate(VIEWPORT_JS)) as ViewportState | { error: string };
}

/** The viewport's state; throws with the reason when no viewport shows an image. */
export async function requireViewport(page: Page): Promise<ViewportState> {
  const s = await viewportState(page);
  if ('error' in s) throw new Error(s.error);
  return s;
}

/** The canvas part of `rect` and what fraction of the image it is (the image may reach past the canvas). */
function onCanvas(state: ViewportState): { box: CanvasRect; crop: Crop } {
  const [x0, y0, x1, y1] = state.imageRect;
  if (!(x1 > x0 && y1 > y0))
    throw new Error(`the image is flipped or empty on the canvas: ${state.imageRect}`);
  const box: CanvasRect = [
    Math.max(0, x0),
    Math.max(0, y0),
    Math.min(state.canvas.width, x1),
    Math.min(state.canvas.height, y1),
  ];
  const w = x1 - x0;
  const h = y1 - y0;
  return { box, crop: [(box[0] - x0) / w, (box[1] - y0) / h, (box[2] - x0) / w, (box[3] - y0) / h] };
}

/**
 * The image region of the viewport's canvas (overlays are HTML beside it, not in it), scaled to a
 * `size` grid, with the state it was read in and the image crop to compare /rendered with.
 */
export async function viewportGrid(
  page: Page,
  size = 64,
): Promise<{ state: ViewportState; grid: GreyGrid; crop: Crop }> {
  const state = await requireViewport(page);
  const { box, crop } = onCanvas(state);
  const values = (await page.evaluate(`(() => {
    ${GREY_JS}
    const vp = window.cornerstone.getEnabledElements().map((e) => e.viewport)
      .find((v) => v && typeof v.getCurrentImageId === 'function' && v.getCurrentImageId());
    const [x0, y0, x1, y1] = ${JSON.stringify(box)};
    const ctx = scratch(${size});
    ctx.drawImage(vp.canvas, x0, y0, x1 - x0, y1 - y0, 0, 0, ${size}, ${size});
    return grey(ctx, ${size});
  })()`)) as number[];
  return { state, grid: { size, values }, crop };
}

/**
 * The server's image at `url` (a /rendered resource), fetched by the page with its session as
 * `accept`, cropped to `crop` and scaled to a `size` grid. Throws with the status when it is not 200.
 */
export async function renderedGrid(
  page: Page,
  url: string,
  opts: { crop?: Crop; size?: number; accept?: string } = {},
): Promise<GreyGrid> {
  const size = opts.size ?? 64;
  const crop = opts.crop ?? [0, 0, 1, 1];
  const r = (await page.evaluate(`(async () => {
    ${GREY_JS}
    const res = await fetch(${JSON.stringify(url)}, { headers: { accept: ${JSON.stringify(opts.accept ?? 'image/png')} } });
    if (res.status !== 200) return { status: res.status, body: (await res.text()).slice(0, 300) };
    const bitmap = await createImageBitmap(await res.blob());
    const [u0, v0, u1, v1] = ${JSON.stringify(crop)};
    const ctx = scratch(${size});
    ctx.drawImage(bitmap, u0 * bitmap.width, v0 * bitmap.height, (u1 - u0) * bitmap.width, (v1 - v0) * bitmap.height, 0, 0, ${size}, ${size});
    return { status: 200, type: res.headers.get('content-type'), values: grey(ctx, ${size}) };
  })()`)) as { status: number; body?: string; type?: string; values?: number[] };
  if (r.status !== 200 || !r.values) throw new Error(`GET ${url}: ${r.status} ${r.body ?? ''}`);
  return { size, values: r.values };
}

export interface GridStats {
  mean: number;
  std: number;
}

export function gridStats(g: GreyGrid): GridStats {
  const n = g.values.length;
  const mean = g.values.reduce((s, v) => s + v, 0) / n;
  const variance = g.values.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
  return { mean, std: Math.sqrt(variance) };
}

export interface GridComparison {
  a: GridStats;
  b: GridStats;
  /** Pearson correlation of the two grids, pixel by pixel (1 for the same picture). */
  correlation: number;
  /** Root mean square difference, in grey levels. */
  rmse: number;
}

export function compareGrids(a: GreyGrid, b: GreyGrid): GridComparison {
  if (a.size !== b.size) throw new Error(`grids of ${a.size} and ${b.size}`);
  const sa = gridStats(a);
  const sb = gridStats(b);
  let cov = 0;
  let sq = 0;
  for (let i = 0; i < a.values.length; i++) {
    const da = (a.values[i] ?? 0) - sa.mean;
    const db = (b.values[i] ?? 0) - sb.mean;
    cov += da * db;
    sq += ((a.values[i] ?? 0) - (b.values[i] ?? 0)) ** 2;
  }
  const n = a.values.length;
  const correlation = sa.std > 0 && sb.std > 0 ? cov / n / (sa.std * sb.std) : 0;
  return { a: sa, b: sb, correlation, rmse: Math.sqrt(sq / n) };
}
