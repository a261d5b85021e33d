// The Email settings page: each provider's sign-in in a popup, the confirm dialogs, and an
// automatic check of each mailbox whose last check is more than a minute old.
(function () {
  "use strict";

  function openPopup(name) {
    var width = 520, height = 700;
    var left = window.screenX + Math.max(0, (window.outerWidth - width) / 2);
    var top = window.screenY + Math.max(0, (window.outerHeight - height) / 3);
    return window.open("", name,
      "popup=yes,width=" + width + ",height=" + height + ",left=" + left + ",top=" + top);
  }

  document.querySelectorAll("form.js-popup").forEach(function (form) {
    form.addEventListener("submit", function () {
      // Opened in the click's task so it is not blocked; the form then posts into it.
      if (!openPopup(form.getAttribute("target"))) {
        form.removeAttribute("target"); // popups blocked: continue in this tab
      }
    });
  });

  // A button with data-opens="<dialog id>" opens it; one with data-closes closes it.
  document.querySelectorAll("[data-opens]").forEach(function (button) {
    var dialog = document.getElementById(button.dataset.opens);
    if (dialog) {
      button.addEventListener("click", function () { dialog.showModal(); });
    }
  });
  document.querySelectorAll("[data-closes]").forEach(function (button) {
    var dialog = document.getElementById(button.dataset.closes);
    if (dialog) {
      button.addEventListener("click", function () { dialog.close(); });
    }
  });

  function check(card) {
    var form = document.getElementById(card.dataset.checkForm);
    var csrf = form && form.querySelector("input[name=csrf]");
    if (!csrf) { return; }
    var body = new FormData();
    body.append("csrf", csrf.value);
    fetch(form.getAttribute("action"), {
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
        var when = card.querySelector("dd[id$=last-verified] time");
        if (when) { when.textContent = "just now"; }
      }
    }).catch(function () { /* the page still shows the last known state */ });
  }

  document.querySelectorAll(".card[data-check-form]").forEach(function (card) {
    if (card.dataset.verifyDue === "true") { check(card); }
  });
})();
