// The main navigation on a phone: a Menu button opens it below the header and closes it
// (Escape too). Run as soon as the header is parsed, so a phone never shows the whole list
// first; without this script the navigation wraps instead (see app.css).
'use strict';

(function () {
  const header = document.querySelector('header.top');
  const button = header?.querySelector('.menu-toggle');
  if (!button) return;
  header.classList.add('has-menu');
  const set = (open) => {
    button.setAttribute('aria-expanded', String(open));
    header.classList.toggle('open', open);
  };
  button.addEventListener('click', () => set(button.getAttribute('aria-expanded') !== 'true'));
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !header.classList.contains('open')) return;
    set(false);
    button.focus();
  });
})();
