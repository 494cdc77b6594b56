// The progress page of a job: poll its status (rows scored of rows total) until it ends, then show
// the results page. Loaded as a file: the Content-Security-Policy forbids inline scripts.
"use strict";

(function () {
  const box = document.getElementById("job");
  if (!box || !window.fetch) return;
  const bar = document.getElementById("job-progress");
  const text = document.getElementById("job-text");
  const error = document.getElementById("job-error");
  const url = box.dataset.statusUrl;
  const number = (n) => n.toLocaleString("en");

  function show(job) {
    const p = job.progress;
    if (p.percent !== null) bar.value = p.percent; else bar.removeAttribute("value");
    const state = job.state.charAt(0).toUpperCase() + job.state.slice(1);
    text.textContent = p.rows_total ? `${state}: ${number(p.rows_done)} of ${number(p.rows_total)} rows.`
                                    : `${state}: ${number(p.rows_done)} rows.`;
    if (job.error) { error.textContent = job.error.detail; error.hidden = false; }
  }

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const job = await response.json();
        show(job);
        if (job.redirect) { window.location.assign(job.redirect); return; }
        if (["failed", "cancelled"].includes(job.state)) return;
      }
    } catch (_) { /* a network blip: try again */ }
    window.setTimeout(poll, 1000);
  }
  poll();
})();
