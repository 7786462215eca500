/* Keeps a live progress panel current (a campaign's, a number lookup run's): every element with
   data-progress-url and data-live="true" fetches that URL (its counters and the panel rendered by the
   server) every data-interval-ms (5 s by default) and is swapped for the new panel. Polling stops once the
   panel says it is no longer live, and waits while the tab is hidden. */
(function () {
  "use strict";
  var DEFAULT_INTERVAL_MS = 5000;

  function follow(id) {
    function panel() {
      return document.getElementById(id);
    }

    function schedule() {
      var current = panel();
      if (current && current.dataset.live === "true") {
        window.setTimeout(refresh, parseInt(current.dataset.intervalMs || "", 10) || DEFAULT_INTERVAL_MS);
      }
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

    schedule();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress-url][id]").forEach(function (element) {
      follow(element.id);
    });
  });
})();
