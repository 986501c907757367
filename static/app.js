// Gameday: small progressive enhancements. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // "Copy" buttons next to read-only fields (invite links).
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const input = document.getElementById(button.dataset.copy);
    if (!input || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        button.textContent = "Copied";
      } catch {
        input.select();
      }
    });
  }
  // New accounts read times in the browser's own zone (UTC without JavaScript; changeable later).
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const input of document.querySelectorAll("input[data-browser-time-zone]")) {
    if (zone) input.value = zone;
  }
  // Selecting a read-only link selects all of it.
  for (const input of document.querySelectorAll("input[readonly]")) {
    input.addEventListener("focus", () => input.select());
  }
  // Put the cursor in the first field with an error, else leave focus alone.
  const invalid = document.querySelector("[aria-invalid=true]");
  if (invalid) invalid.focus();
});
