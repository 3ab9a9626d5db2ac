// A refused form's error, tied to the input it names (every page, signed in or not). The
// server names the field as the API does (`password_confirm: …`, views/form-error.eta); here
// the message takes the input's label instead, the input is marked invalid and described by
// the message, and the focus goes to it.
'use strict';

(function () {
  const error = document.querySelector('p.error[role="alert"]');
  const field = /^([\w.]+): /.exec(error?.textContent ?? '')?.[1];
  const input = field && error.parentElement?.querySelector(`form [name="${CSS.escape(field)}"]`);
  if (!input) return;
  const label = input.closest('label')?.firstChild?.textContent?.trim();
  if (label) error.textContent = `${label}: ${error.textContent.slice(field.length + 2)}`;
  error.id ||= 'form-error';
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-describedby', error.id);
  input.focus();
})();
