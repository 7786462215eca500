/* An open conversation keeps itself current: it polls the timeline's data-poll-url and redraws the timeline
 * when a message arrived or a delivery status moved. Text is set with textContent, never as HTML.
 */
(function () {
  "use strict";

  // Loaded in the page's head (the admin's form media): start once the timeline exists.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }

  function start() {
    var timeline = document.getElementById("timeline");
    if (!timeline) { return; }
    var seconds = Math.max(2, parseInt(timeline.dataset.pollSeconds, 10) || 10);
    // What the server rendered, in the form the poll's answer is compared in.
    var signature = Array.from(timeline.querySelectorAll("li[data-key]")).map(function (li) {
      var status = li.querySelector(".delivery-status");
      return li.dataset.key + ":" + (status ? status.dataset.status : "");
    }).join("|");

    function element(tag, className, text) {
      var node = document.createElement(tag);
      if (className) { node.className = className; }
      if (text !== undefined) { node.textContent = text; }
      return node;
    }

    function render(item) {
      var li = element("li", "message message-" + item.direction + " message-" + item.kind);
      li.dataset.key = item.key;
      var meta = element("div", "message-meta");
      meta.appendChild(element("span", "message-label", item.label));
      meta.appendChild(document.createTextNode(" "));
      var time = element("time", "", item.at_display);
      time.setAttribute("datetime", item.at);
      meta.appendChild(time);
      if (item.status) {
        meta.appendChild(document.createTextNode(" "));
        var status = element("span", "delivery-status", item.status_label);
        status.dataset.status = item.status;
        meta.appendChild(status);
      }
      li.appendChild(meta);
      li.appendChild(element("div", "message-body", item.body));
      if (item.detail) { li.appendChild(element("div", "message-detail", item.detail)); }
      return li;
    }

    function signatureOf(items) {
      return items.map(function (item) { return item.key + ":" + item.status; }).join("|");
    }

    function poll() {
      fetch(timeline.dataset.pollUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          var fresh = signatureOf(data.items);
          if (fresh !== signature) {
            timeline.replaceChildren.apply(timeline, data.items.map(render));
          }
          signature = fresh;
          document.dispatchEvent(new CustomEvent("inbox:unread", { detail: data.unread.messages }));
        })
        .catch(function () { /* offline for a moment: the next poll tries again */ });
    }

    poll();
    window.setInterval(poll, seconds * 1000);
  }
})();
