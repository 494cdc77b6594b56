// Progressive enhancement of the upload form: drag and drop, upload progress, errors in place.
// Without JavaScript the form posts normally and the server answers with a page.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  const input = document.getElementById("file");
  const zone = document.getElementById("dropzone");
  const chosen = document.getElementById("chosen-file");
  const errorBox = document.getElementById("form-error");
  const progress = document.getElementById("progress");
  const bar = document.getElementById("progress-bar");
  const text = document.getElementById("progress-text");
  const submit = document.getElementById("submit");
  const extensions = (form.dataset.extensions || "csv").split(",");
  const allowed = new RegExp(`\\.(${extensions.join("|")})$`, "i");
  const allowedText = `Upload a file ending in ${extensions.map((e) => "." + e).join(", ")}.`;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    progress.hidden = true;
    submit.disabled = false;
    errorBox.focus?.();
  }

  function describe(file) {
    const size = file.size >= 1048576 ? `${(file.size / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(file.size / 1024))} KB`;
    return `${file.name} (${size})`;
  }

  function onChosen() {
    errorBox.hidden = true;
    const file = input.files[0];
    chosen.textContent = file ? describe(file) : "";
    if (file && !allowed.test(file.name)) showError(allowedText);
  }

  input.addEventListener("change", onChosen);
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("dragover"); });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("dragover"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      onChosen();
    }
  });
  // A file dropped anywhere else on the page must not navigate away from it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) return showError("Choose a CSV or spreadsheet file.");
    if (!allowed.test(file.name)) return showError(allowedText);
    errorBox.hidden = true;
    submit.disabled = true;
    progress.hidden = false;
    bar.value = 0;
    text.textContent = "Uploading…";

    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      bar.value = Math.round((e.loaded / e.total) * 100);
      text.textContent = `Uploading… ${bar.value}%`;
    });
    request.upload.addEventListener("load", () => { bar.removeAttribute("value"); text.textContent = "Scoring…"; });
    request.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(request.responseText); } catch (_) { /* not JSON */ }
      if (request.status === 200 && body && body.redirect) {
        text.textContent = "Done. Opening the results…";
        window.location.assign(body.redirect);
      } else {
        showError((body && (body.error || body.detail)) || `The upload failed (HTTP ${request.status}). Try again.`);
      }
    });
    request.addEventListener("error", () => showError("The upload was interrupted. Check the connection and try again."));
    request.send(new FormData(form));
  });
})();
