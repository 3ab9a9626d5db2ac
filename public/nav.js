// The main navigation on a phone: a Menu button opens it below the header, focus on its
// current link, and closes it (Escape too, focus back on the button). Run as soon as the
// header is parsed, so a phone never shows the whole list first; without this script the
// navigation wraps instead (see app.css).
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
  button.addEventListener('click', () => {
    const open = button.getAttribute('aria-expanded') !== 'true';
    set(open);
    // The links come before the button in the page: focus moves to them, so Tab goes on through them.
    if (open) (header.querySelector('#main-nav [aria-current="page"]') ?? header.querySelector('#main-nav a'))?.focus();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !header.classList.contains('open')) return;
    set(false);
    button.focus();
  });
})();
