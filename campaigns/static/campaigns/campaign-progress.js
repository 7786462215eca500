/* Keeps a campaign's progress panel live: while the campaign is scheduled or sending, fetch progress.json
   (the campaign's counters and the panel rendered by the server) every few seconds and swap the panel in.
   Polling stops once the panel says the campaign is no longer live, and waits while the tab is hidden. */
(function () {
  "use strict";
  var INTERVAL_MS = 5000;

  function panel() {
    return document.getElementById("campaign-progress");
  }

  function schedule() {
    var current = panel();
    if (current && current.dataset.live === "true") window.setTimeout(refresh, INTERVAL_MS);
  }

  function refresh() {
    var current = panel();
    if (!current) return;
    if (document.hidden) {
      schedule();
      return;
    }
    fetch(current.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("progress.json answered " + response.status);
        return response.json();
      })
      .then(function (data) {
        current.outerHTML = data.html;
      })
      .catch(function (error) {
        // Keep the last numbers on screen and try again at the next tick.
        current.dataset.stale = "true";
        if (window.console) window.console.warn(error);
      })
      .then(schedule);
  }

  document.addEventListener("DOMContentLoaded", schedule);
})();
