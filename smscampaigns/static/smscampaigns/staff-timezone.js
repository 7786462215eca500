/* Tells the server the staff member's timezone (a cookie read by smscampaigns.middleware), so that times in
 * the admin, such as a campaign's schedule, are shown and entered in it. Reloads once when it changes. */
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) return;
  var current = document.cookie.split("; ").find(function (c) { return c.indexOf("staff_tz=") === 0; });
  if (current === "staff_tz=" + encodeURIComponent(zone)) return;
  document.cookie = "staff_tz=" + encodeURIComponent(zone) + "; path=/; SameSite=Lax; max-age=31536000";
  // location.replace fetches the page again with GET, so a form is never sent twice.
  if (document.readyState !== "complete" && !sessionStorage.getItem("staff_tz_reloaded")) {
    sessionStorage.setItem("staff_tz_reloaded", "1");
    window.location.replace(window.location.href);
  }
})();
