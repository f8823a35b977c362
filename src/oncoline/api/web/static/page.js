// The page works without this script; it only wires the print button.
document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("[data-action=print]")) b.addEventListener("click", () => window.print());
});
