// A refused form's error, tied to the input it names (every page, signed in or not). The
// server names the field as the API does (`password_confirm: …`, views/form-error.eta): in
// the form that was sent (remembered as it is submitted: a page may hold several with the
// same field), the input is marked invalid and described by the message, and takes the
// focus; the message takes the input's label in place of the field's name.
'use strict';

(function () {
  const KEY = 'agentmeter:sent-form';
  const sameAction = (action) => [...document.forms].filter((f) => f.action === action);
  document.addEventListener(
    'submit',
    (e) => {
      const form = e.target;
      try {
        sessionStorage.setItem(KEY, JSON.stringify([form.action, sameAction(form.action).indexOf(form)]));
      } catch {
        // No storage (a private window's limits): the error is left as the server wrote it.
      }
    },
    true,
  );
  let sent = null;
  try {
    sent = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    sessionStorage.removeItem(KEY);
  } catch {
    return;
  }
  const error = document.querySelector('p.error[role="alert"]');
  const field = /^([\w.]+): /.exec(error?.textContent ?? '')?.[1];
  const form = Array.isArray(sent) && field ? sameAction(sent[0])[sent[1]] : undefined;
  if (!form) return;
  // A nested field (`filters.tool.0`) is the input of its first part.
  let input = form.elements.namedItem(field) ?? form.elements.namedItem(field.split('.')[0]);
  if (input instanceof RadioNodeList) input = input[0];
  if (!input || input.type === 'hidden') return;
  const label = input.labels?.[0];
  const text = label && [...label.childNodes].find((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
  if (text && input.name === field)
    error.textContent = `${text.textContent.trim()}: ${error.textContent.slice(field.length + 2)}`;
  error.id ||= 'form-error';
  const described = (input.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean);
  if (!described.includes(error.id)) input.setAttribute('aria-describedby', [...described, error.id].join(' '));
  input.setAttribute('aria-invalid', 'true');
  input.focus();
})();
