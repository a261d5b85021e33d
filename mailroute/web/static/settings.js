// The Email settings page: Google sign-in in a popup, the revoke confirm dialog, and an
// automatic check of the connection when the last one is more than a minute old.
(function () {
  "use strict";

  var POPUP = "mailroute-google";

  function openPopup() {
    var width = 520, height = 700;
    var left = window.screenX + Math.max(0, (window.outerWidth - width) / 2);
    var top = window.screenY + Math.max(0, (window.outerHeight - height) / 3);
    return window.open("", POPUP,
      "popup=yes,width=" + width + ",height=" + height + ",left=" + left + ",top=" + top);
  }

  document.querySelectorAll("form.js-popup").forEach(function (form) {
    form.addEventListener("submit", function () {
      // Opened in the click's task so it is not blocked; the form then posts into it.
      if (!openPopup()) {
        form.removeAttribute("target"); // popups blocked: continue in this tab
      }
    });
  });

  var dialog = document.getElementById("revoke-dialog");
  var revoke = document.getElementById("btn-revoke");
  if (dialog && revoke) {
    revoke.addEventListener("click", function () { dialog.showModal(); });
    document.getElementById("btn-revoke-cancel").addEventListener("click", function () {
      dialog.close();
    });
  }

  var card = document.getElementById("gmail-card");
  var csrf = document.querySelector("#check-form input[name=csrf]");
  if (card && csrf && card.dataset.verifyDue === "true") {
    var body = new FormData();
    body.append("csrf", csrf.value);
    fetch("/settings/email/check", {
      method: "POST",
      body: body,
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (result) {
      if (!result) { return; }
      if (result.changed) {
        window.location.reload();
      } else if (result.state === "active") {
        var when = document.querySelector("#last-verified time");
        if (when) { when.textContent = "just now"; }
      }
    }).catch(function () { /* the page still shows the last known state */ });
  }
})();
