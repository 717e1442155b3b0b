// The pages' only script besides htmx: a file, because the Content-Security-Policy allows no inline script.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
