/**
 * What the worklist and the study page show of a study's images: thumbnails from Ferry's own DICOMweb
 * (same origin, the console session's cookie) and the link into the viewer the control plane serves.
 */

/**
 * Modalities whose instances carry no pixels to draw (reports, presentation states, key objects,
 * RT plans and structures, waveforms, registrations): no thumbnail is asked for them.
 */
const NO_IMAGE_MODALITIES = new Set([
  'AU',
  'DOC',
  'ECG',
  'EPS',
  'FID',
  'HD',
  'KO',
  'PLAN',
  'PR',
  'REG',
  'RTPLAN',
  'RTRECORD',
  'RTSTRUCT',
  'SR',
]);

/** Whether any of these modalities can have an image (unknown ones may: the server decides). */
export function mayHaveImage(modalities: readonly (string | null)[]): boolean {
  return modalities.length === 0 || modalities.some((m) => m === null || !NO_IMAGE_MODALITIES.has(m));
}

/** The viewer's page for a study: OHIF's study list route, served by the control plane at /viewer/. */
export function viewerHref(studyUid: string): string {
  return `/viewer/viewer?StudyInstanceUIDs=${encodeURIComponent(studyUid)}`;
}

/** The DICOMweb thumbnail of a study, or of one of its series. */
export function thumbnailSrc(studyUid: string, seriesUid?: string): string {
  const study = `/dicomweb/studies/${encodeURIComponent(studyUid)}`;
  return seriesUid === undefined
    ? `${study}/thumbnail`
    : `${study}/series/${encodeURIComponent(seriesUid)}/thumbnail`;
}

/**
 * A thumbnail, lazily loaded so a page never waits for its images. Nothing to draw (an SR series) is a
 * neutral "No image" box; an image the server cannot render shows the same box (worklist.css styles a
 * broken <img>: the CSP allows no inline onerror).
 */
export function Thumbnail(props: { src: string; alt: string; size: number; hasImage: boolean }) {
  const { src, alt, size, hasImage } = props;
  const style = `thumb thumb-${size}`;
  return hasImage ? (
    <img class={style} src={src} alt={alt} width={size} height={size} loading="lazy" decoding="async" />
  ) : (
    <span class={`${style} no-image`}>No image</span>
  );
}
