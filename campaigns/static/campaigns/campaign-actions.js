/* Asks before a campaign action that cannot be taken back (send now, cancel). */
document.addEventListener("submit", function (event) {
  "use strict";
  var button = event.target.querySelector("button[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
});
