// Progressive enhancement only: every page works without this file.
// A submitted form's button is disabled so that a second click cannot
// send the same confirmation twice, and an error summary takes focus.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        setTimeout(function () { b.disabled = true; }, 0);
      });
      form.setAttribute("aria-busy", "true");
    });
  });
  var errors = document.getElementById("errors");
  if (errors) { errors.focus(); }
});
