// When htmx gets no usable answer (server error, refused request, network down), the form
// stays as it is, with everything typed, and says what happened.
(function () {
  "use strict";

  function problemBox(elt) {
    var form = elt && elt.closest ? elt.closest("form") : null;
    return form ? form.querySelector("[data-form-problem]") : null;
  }

  function show(elt, text) {
    var box = problemBox(elt);
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    box.focus();
  }

  document.addEventListener("htmx:before:request", function (event) {
    var box = problemBox(event.target);
    if (box) box.hidden = true;
  });

  document.addEventListener("htmx:response:error", function (event) {
    var ctx = event.detail && event.detail.ctx;
    var status = ctx && ctx.response ? ctx.response.status : 0;
    if (status >= 500) {
      show(event.target, "Sorry, something went wrong on our side and your request was not sent. " +
        "Your details are still here: please try again in a minute.");
    } else if (status !== 422 && status !== 429) {
      show(event.target, "Your request could not be accepted (error " + status + "). " +
        "Your details are still here: please reload the page and try again.");
    }
  });

  document.addEventListener("htmx:error", function (event) {
    show(event.target, "Your request could not be sent. Please check your connection; " +
      "your details are still here, so you can try again.");
  });
})();
