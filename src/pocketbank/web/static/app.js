// PocketBank: idle warning and logout, and the service worker. No inline script anywhere (CSP: script-src 'self').
(function () {
  "use strict";
  var WARN_MS = 4 * 60 * 1000;
  var LOGOUT_MS = 5 * 60 * 1000;
  var target = document.body && document.body.getAttribute("data-idle");
  if (target) {
    var banner = document.getElementById("idle-warning");
    var warnTimer = 0;
    var logoutTimer = 0;
    var reset = function () {
      window.clearTimeout(warnTimer);
      window.clearTimeout(logoutTimer);
      if (banner) { banner.hidden = true; }
      warnTimer = window.setTimeout(function () { if (banner) { banner.hidden = false; } }, WARN_MS);
      logoutTimer = window.setTimeout(function () { window.location.assign(target); }, LOGOUT_MS);
    };
    ["click", "keydown", "touchstart", "scroll"].forEach(function (name) {
      document.addEventListener(name, reset, { passive: true });
    });
    document.addEventListener("htmx:afterRequest", reset);
    reset();
  }
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { /* optional */ });
  }
})();
