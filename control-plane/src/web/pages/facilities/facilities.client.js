// Facilities form: checks the AE title as it is typed, with the same rules and words as the API
// (shared aeTitleProblem). The server stays the authority; this only says why earlier.

/** Port of @ferry/shared aeTitleProblem: keep the two in step. */
function aeTitleProblem(raw) {
  const title = raw.trim();
  if (title.length === 0) return 'must not be empty or all spaces';
  if (title.length > 16) return `must be at most 16 characters (got ${title.length})`;
  for (const ch of title) {
    const c = ch.codePointAt(0) ?? 0;
    if (c === 0x5c) return 'must not contain a backslash';
    if (c < 0x20 || c === 0x7f) return 'must not contain control characters';
    if (c > 0x7e) return 'must use only the DICOM default character repertoire (printable ASCII)';
  }
  return undefined;
}

for (const input of document.querySelectorAll('input[data-ae-title]')) {
  const errorId = `${input.id}-error`;
  const hintId = `${input.id}-hint`;
  const check = () => {
    const problem = aeTitleProblem(input.value);
    let box = document.getElementById(errorId);
    if (problem) {
      if (!box) {
        box = document.createElement('p');
        box.id = errorId;
        box.className = 'field-error';
        box.setAttribute('role', 'alert');
        input.insertAdjacentElement('afterend', box);
      }
      box.textContent = `AE title ${problem}`;
      input.setAttribute('aria-invalid', 'true');
    } else {
      if (box) box.remove();
      input.removeAttribute('aria-invalid');
    }
    const ids = [document.getElementById(hintId) ? hintId : '', problem ? errorId : ''].filter(Boolean);
    if (ids.length > 0) input.setAttribute('aria-describedby', ids.join(' '));
    else input.removeAttribute('aria-describedby');
  };
  input.addEventListener('input', check);
}
