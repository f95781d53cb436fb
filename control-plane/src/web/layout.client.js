// Ferry console behaviour. Loaded as a same-origin file: the Content-Security-Policy forbids inline
// script. Every feature is opt-in through data attributes, and pages work without it.

// Session expiry: warn five minutes before, and send the user to sign in once it has passed.
(function sessionNotice() {
  const at = document.body.dataset.sessionExpires;
  if (!at) return;
  const expires = Date.parse(at);
  const box = document.getElementById('session-notice');
  const tick = () => {
    const left = expires - Date.now();
    if (left <= 0) {
      window.location.assign(
        `/login?expired=1&next=${encodeURIComponent(window.location.pathname + window.location.search)}`,
      );
      return;
    }
    if (left < 5 * 60_000 && box) {
      box.hidden = false;
      box.textContent = `Your session expires in ${Math.ceil(left / 60_000)} minute(s). Save your work and sign in again.`;
    }
    setTimeout(tick, Math.min(30_000, Math.max(1000, left - 5 * 60_000)));
  };
  tick();
})();

// Copy buttons: <button data-copy="element-id">; the target's value or text goes to the clipboard.
document.addEventListener('click', (ev) => {
  const button = ev.target instanceof Element ? ev.target.closest('[data-copy]') : null;
  if (!button) return;
  const target = document.getElementById(button.getAttribute('data-copy') || '');
  if (!target) return;
  const text =
    'value' in target && typeof target.value === 'string' ? target.value : target.textContent || '';
  const done = () => {
    const label = button.textContent;
    button.textContent = 'Copied';
    button.setAttribute('data-copied', 'true');
    setTimeout(() => {
      button.textContent = label;
    }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, () => {});
  else {
    const area = document.createElement('textarea');
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand('copy');
    area.remove();
    done();
  }
});

// Forms that destroy something ask first: <form data-confirm="Revoke this gateway?">.
document.addEventListener('submit', (ev) => {
  const form = ev.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm))
    ev.preventDefault();
});

// Times: the server writes every <time> with a full timestamp in UTC (formatTime, `2026-11-28 07:30
// UTC`); show it in the viewer's own time zone in the same YYYY-MM-DD HH:MM form, the full timestamp
// kept in its title. A date alone (a study date) has no zone and stays. Rows added later (the fleet's
// live updates) are rewritten too. Filter forms send the zone (`tz`), so their days are the viewer's.
(function localTimes() {
  const pad = (n) => String(n).padStart(2, '0');
  const local = (d) =>
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  function rewrite(root) {
    for (const el of root.querySelectorAll('time[datetime]:not([data-local])')) {
      const iso = el.getAttribute('datetime') || '';
      const d = new Date(iso);
      if (!/T\d\d:\d\d/.test(iso) || Number.isNaN(d.getTime())) continue;
      el.setAttribute('data-local', '');
      el.title = d.toISOString();
      el.textContent = local(d);
    }
  }
  rewrite(document);
  new MutationObserver((records) => {
    for (const r of records)
      for (const node of r.addedNodes) if (node instanceof Element) rewrite(node.parentElement || document);
  }).observe(document.body, { childList: true, subtree: true });
  const tz = String(-new Date().getTimezoneOffset());
  for (const input of document.querySelectorAll('input[data-tz]')) input.value = tz;
})();
