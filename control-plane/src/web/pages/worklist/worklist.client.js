// Worklist: while the first page is open, look for new or changed studies every 10 seconds (the
// same page, fetched with the same filters) and offer them with a button, without a page reload and
// without moving rows under the reader's eyes. Later pages stay still: their cursor pins them.
(function liveWorklist() {
  const INTERVAL_MS = 10_000;
  let region = document.getElementById('worklist-results');
  const notice = document.getElementById('worklist-changed');
  const show = document.getElementById('worklist-show-changes');
  if (region?.dataset.live !== 'true' || !notice || !show) return;
  /** @type {HTMLElement | null} */
  let latest = null;

  const signature = (root) =>
    Array.from(root.querySelectorAll('tr[data-study-uid]'))
      .map((tr) => `${tr.getAttribute('data-study-uid')}|${tr.textContent}`)
      .join('\n') || (root.textContent || '').trim();

  const check = async () => {
    if (!document.hidden) {
      try {
        const res = await fetch(window.location.href, {
          credentials: 'same-origin',
          redirect: 'manual',
          headers: { accept: 'text/html' },
        });
        if (res.ok) {
          const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
          const fresh = doc.getElementById('worklist-results');
          if (fresh && region && signature(fresh) !== signature(region)) {
            latest = fresh;
            notice.hidden = false;
          }
        }
      } catch {
        // Offline for a moment: try again at the next tick.
      }
    }
    setTimeout(check, INTERVAL_MS);
  };

  show.addEventListener('click', () => {
    if (!latest || !region) return;
    const next = document.importNode(latest, true);
    region.replaceWith(next);
    region = next;
    latest = null;
    notice.hidden = true;
    const table = next.querySelector('table');
    if (table) {
      table.setAttribute('tabindex', '-1');
      table.focus();
    }
  });

  setTimeout(check, INTERVAL_MS);
})();
