/* Keeps a number lookup's progress live: while the run is waiting or running, fetch its progress.json every
   second and swap the panel the server rendered in; stops once the panel says the run is over. */
(function () {
  "use strict";
  var INTERVAL_MS = 1000;

  function panel() {
    return document.getElementById("lookup-progress");
  }

  function schedule() {
    var current = panel();
    if (current && current.dataset.live === "true") window.setTimeout(refresh, INTERVAL_MS);
  }

  function refresh() {
    var current = panel();
    if (!current) return;
    fetch(current.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("progress.json answered " + response.status);
        return response.json();
      })
      .then(function (data) {
        current.outerHTML = data.html;
      })
      .catch(function (error) {
        if (window.console) window.console.warn(error);
      })
      .then(schedule);
  }

  document.addEventListener("DOMContentLoaded", schedule);
})();
