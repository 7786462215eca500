/* The inbox's unread count in the admin's navigation and in the browser tab's title, polled from the
 * badge's data-url every data-poll-seconds. On the inbox list, the list itself is refreshed in place when
 * the count changes, so new conversations appear without reloading. No inline script: the CSP forbids it.
 */
(function () {
  "use strict";
  var badge = document.getElementById("inbox-unread");
  if (!badge) { return; }
  var baseTitle = document.title.replace(/^\(\d+\) /, "");
  var seconds = Math.max(2, parseInt(badge.dataset.pollSeconds, 10) || 10);
  var shown = parseInt(badge.dataset.count, 10) || 0;

  function show(count) {
    badge.textContent = String(count);
    badge.dataset.count = String(count);
    badge.hidden = count === 0;
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
  }

  function refreshList() {
    var list = document.getElementById("changelist");
    if (!list || !document.body.classList.contains("model-conversation")) { return; }
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("changelist");
        if (fresh) { list.replaceChildren.apply(list, Array.from(fresh.childNodes)); }
      });
  }

  function poll() {
    fetch(badge.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (data.messages !== shown) {
          shown = data.messages;
          show(shown);
          refreshList();
        }
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }

  show(shown);
  document.addEventListener("inbox:unread", function (event) { shown = event.detail; show(shown); });
  window.setInterval(poll, seconds * 1000);
})();
