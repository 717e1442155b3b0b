// A "Print" button is <button type="button" data-print>: bound here, not in an onclick attribute, so the pages
// need no inline script (a Content-Security-Policy with script-src 'self' allows this file and nothing inline).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
