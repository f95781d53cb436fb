// Fleet page live updates and the diagnostic page's refresh. Same-origin file (the CSP forbids inline
// script); every value from the server is set with textContent or attributes, never as markup.

// <div data-refresh-seconds="2">: reload while a diagnostic is pending (the server drops the attribute
// once it is done or expired, so the reloading stops there).
(function refreshWhilePending() {
  const el = document.querySelector('[data-refresh-seconds]');
  if (!el) return;
  const seconds = Number(el.getAttribute('data-refresh-seconds')) || 2;
  setTimeout(() => window.location.reload(), seconds * 1000);
})();

// <div data-live="fleet">: the counts and rows follow /fleet/events (Server-Sent Events) without a reload.
(function liveFleet() {
  const root = document.querySelector('[data-live="fleet"]');
  if (!root || !window.EventSource) return;
  const tbody = document.getElementById('fleet-rows');
  const empty = document.getElementById('fleet-empty');
  const live = document.getElementById('fleet-live');
  if (!tbody) return;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A <time> for a stamp {iso, text}, or a muted placeholder.
  function when(stamp, placeholder) {
    return stamp
      ? el('time', { datetime: stamp.iso }, stamp.text)
      : el('span', { class: 'muted' }, placeholder);
  }

  function badges(row) {
    const out = [el('span', { class: `badge ${row.status}`, 'data-status': row.status }, row.status)];
    if (row.revoked)
      out.push(document.createTextNode(' '), el('span', { class: 'badge revoked' }, 'revoked'));
    return out;
  }

  // What each cell holds, by field (cells are found by their data-label); a cell is replaced only when its content changed.
  const CELLS = {
    hostname: (r) => [
      el('a', { href: r.href }, r.name),
      document.createTextNode(' '),
      el('span', { class: 'muted' }, r.hostname),
    ],
    facility: (r) => [document.createTextNode(r.facility)],
    aeTitle: (r) => [el('code', {}, r.aeTitle)],
    status: badges,
    lastSeen: (r) => [when(r.lastSeen, 'never')],
    backlog: (r) => [document.createTextNode(r.backlog)],
    oldestUnsent: (r) => [when(r.oldestUnsent, 'none')],
    throughput: (r) => [document.createTextNode(r.throughput)],
    version: (r) => [document.createTextNode(r.version)],
    config: (r) => [document.createTextNode(r.config)],
  };
  const LABELS = {
    hostname: 'Gateway',
    facility: 'Facility',
    aeTitle: 'AE title',
    status: 'Status',
    lastSeen: 'Last seen',
    backlog: 'Spool backlog',
    oldestUnsent: 'Oldest unsent',
    throughput: 'Throughput',
    version: 'Version',
    config: 'Config',
  };

  // Replaces a cell's content when its value changed (sig: the value's JSON, kept on the cell).
  function fill(td, sig, nodes) {
    if (td.getAttribute('data-v') === sig) return;
    td.setAttribute('data-v', sig);
    td.replaceChildren(...nodes);
  }

  function sigOf(field, r) {
    if (field === 'status') return JSON.stringify([r.status, r.revoked]);
    if (field === 'hostname') return JSON.stringify([r.name, r.hostname, r.href]);
    return JSON.stringify(r[field] ?? null);
  }

  const FIELDS = {};
  for (const [field, label] of Object.entries(LABELS)) FIELDS[label] = field;

  function rowFor(r) {
    const tr = el('tr', { 'data-gateway-id': r.id });
    for (const field of Object.keys(CELLS)) tr.append(el('td', { 'data-label': LABELS[field] }));
    return tr;
  }

  function update(data) {
    for (const [key, value] of Object.entries(data.counts)) {
      const target = root.querySelector(`[data-count="${key}"]`);
      if (!target) continue;
      if (key === 'oldestUnsent') fill(target, JSON.stringify(value), [when(value, 'none')]);
      else if (target.textContent !== String(value)) target.textContent = String(value);
    }
    const existing = new Map();
    for (const tr of tbody.querySelectorAll('tr[data-gateway-id]'))
      existing.set(tr.getAttribute('data-gateway-id'), tr);
    let previous = null;
    for (const r of data.gateways) {
      let tr = existing.get(r.id);
      if (tr) existing.delete(r.id);
      else tr = rowFor(r);
      for (const td of tr.querySelectorAll('td[data-label]')) {
        const field = FIELDS[td.getAttribute('data-label')];
        const make = CELLS[field];
        if (make) fill(td, sigOf(field, r), make(r));
      }
      // Keep the server's order: newest enrolment first.
      const want = previous ? previous.nextSibling : tbody.firstChild;
      if (want !== tr) tbody.insertBefore(tr, want);
      previous = tr;
    }
    // Rows that no longer match the filters (revoked, or changed status under a status filter) go.
    for (const tr of existing.values()) tr.remove();
    if (empty) empty.hidden = data.gateways.length > 0;
    if (live) {
      const n = data.gateways.length;
      const text = `${n} ${n === 1 ? 'gateway' : 'gateways'} shown. Live.`;
      if (live.textContent !== text) live.textContent = text;
    }
    root.setAttribute('data-live-updated', new Date().toISOString());
  }

  const source = new EventSource(`/fleet/events${window.location.search}`);
  source.addEventListener('fleet', (ev) => {
    try {
      update(JSON.parse(ev.data));
    } catch {
      // A malformed event changes nothing; the next one carries the whole state again.
    }
  });
  source.addEventListener('error', () => {
    if (live) live.textContent = 'Live updates paused; reconnecting…';
  });
  window.addEventListener('pagehide', () => source.close());
})();
