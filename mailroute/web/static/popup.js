// The page Google's callback shows in the sign-in popup: refresh the settings page that opened
// it, and close itself after a successful connection.
(function () {
  "use strict";
  var result = document.getElementById("oauth-result");
  var ok = result && result.dataset.ok === "true";
  var opener = null;
  try { opener = window.opener && !window.opener.closed ? window.opener : null; } catch (e) { opener = null; }

  document.getElementById("btn-close").addEventListener("click", function () {
    if (opener) { window.close(); } else { window.location.assign("/settings/email"); }
  });

  if (opener) {
    try { opener.location.assign("/settings/email"); } catch (e) { /* another origin */ }
    if (ok) { window.setTimeout(function () { window.close(); }, 1200); }
  } else if (ok) {
    // Not a popup (popups blocked): go back to the settings page.
    window.setTimeout(function () { window.location.assign("/settings/email"); }, 1500);
  }
})();
