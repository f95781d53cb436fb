// Gateway settings forms: each change is checked by the server's dry run (the same schema the save
// runs), and its reasons are shown under the setting, in the API's words. Nothing is judged here.
// Typing in a setting also ticks it as this scope's own, since a typed value is meant to be used.

const DELAY_MS = 250;

function showProblem(block, message) {
  const input = block.querySelector('input:not([type=checkbox]), select, textarea');
  if (!input) return;
  const errorId = `${input.id}-error`;
  let box = document.getElementById(errorId);
  if (message) {
    if (!box) {
      box = document.createElement('p');
      box.id = errorId;
      box.className = 'field-error';
      box.setAttribute('role', 'alert');
      input.insertAdjacentElement('afterend', box);
    }
    if (box.textContent !== message) box.textContent = message;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', `${input.id}-hint ${errorId}`);
  } else {
    if (box) box.remove();
    input.removeAttribute('aria-invalid');
    input.setAttribute('aria-describedby', `${input.id}-hint`);
  }
}

for (const form of document.querySelectorAll('form[data-settings-form]')) {
  let timer;
  let sent = 0;
  const check = async () => {
    const mine = ++sent;
    let problems;
    try {
      const res = await fetch(form.dataset.validate, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form)),
        headers: { accept: 'application/json' },
        credentials: 'same-origin',
        redirect: 'error',
      });
      if (!res.ok) return;
      ({ problems } = await res.json());
    } catch {
      return; // Offline or signed out: the save still checks, and says so.
    }
    if (mine !== sent) return; // A later check is on its way.
    for (const block of form.querySelectorAll('[data-setting]'))
      showProblem(block, problems[block.dataset.setting]);
    form.dataset.checked = String(mine);
  };
  const changed = (event) => {
    const block = event.target.closest('[data-setting]');
    if (!block) return;
    if (!event.target.matches('[data-own]')) {
      const own = block.querySelector('[data-own]');
      if (own) own.checked = true;
    }
    clearTimeout(timer);
    timer = setTimeout(check, DELAY_MS);
  };
  form.addEventListener('input', changed);
  form.addEventListener('change', changed);
}

// The userIdentity editor shows only the parts its requirement uses (all show without the script).
for (const select of document.querySelectorAll('select[data-identity-require]')) {
  const block = select.closest('[data-setting]');
  const sync = () => {
    for (const part of block.querySelectorAll('[data-identity-mode]'))
      part.hidden = part.dataset.identityMode !== select.value;
  };
  select.addEventListener('change', sync);
  sync();
}
