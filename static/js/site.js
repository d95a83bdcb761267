// When htmx gets no usable answer (server error, refused request, network down), the form
// stays as it is, with everything typed, and says what happened.
(function () {
  "use strict";

  function problemBox(elt) {
    var form = elt && elt.closest ? elt.closest("form") : null;
    return form ? form.querySelector("[data-form-problem]") : null;
  }

  // Staff pages: one box for the page's actions, used for failures the answer cannot show
  // (a server error, the network); refusals with their own answer (409, 422) swap as usual.
  function pageBox() {
    return document.querySelector("[data-page-problem]");
  }

  function reveal(box, text) {
    box.textContent = text;
    box.hidden = false;
    box.focus();
  }

  function show(elt, text) {
    var box = problemBox(elt);
    if (box) reveal(box, text);
  }

  function isPoll(elt) {
    return !!(elt && elt.closest && elt.closest("[data-hx-trigger*='every']"));
  }

  document.addEventListener("htmx:before:request", function (event) {
    var box = problemBox(event.target) || (isPoll(event.target) ? null : pageBox());
    if (box) box.hidden = true;
  });

  document.addEventListener("htmx:response:error", function (event) {
    var ctx = event.detail && event.detail.ctx;
    var status = ctx && ctx.response ? ctx.response.status : 0;
    if (!problemBox(event.target)) {
      var page = pageBox();
      if (page && status >= 500) {
        reveal(page, "Not saved: the site cannot save anything just now (error " + status +
          "). What you typed is still on the page: try again in a minute.");
      }
      return;
    }
    if (status >= 500) {
      show(event.target, "Sorry, something went wrong on our side and your request was not sent. " +
        "Your details are still here: please try again in a minute.");
    } else if (status !== 422 && status !== 429) {
      show(event.target, "Your request could not be accepted (error " + status + "). " +
        "Your details are still here: please reload the page and try again.");
    }
  });

  document.addEventListener("htmx:error", function (event) {
    if (!problemBox(event.target)) {
      var page = pageBox();
      // Polls (the badge) fail quietly: the next one tries again.
      if (page && !isPoll(event.target)) {
        reveal(page, "Not sent: the site could not be reached. Check the connection; what " +
          "you typed is still on the page.");
      }
      return;
    }
    show(event.target, "Your request could not be sent. Please check your connection; " +
      "your details are still here, so you can try again.");
  });
})();

// After a re-check (see _consultation_form.html), keep each field's ARIA in step with its
// message: invalid and described by it while it shows, neither once it has cleared.
(function () {
  "use strict";

  function sync() {
    var boxes = document.querySelectorAll(".feedback[id^='cf-']");
    boxes.forEach(function (box) {
      var name = box.id.slice(3, -"-feedback".length);
      var errorId = "cf-" + name + "-error";
      var showing = !!document.getElementById(errorId);
      document.querySelectorAll("[data-check-field='" + name + "']").forEach(function (control) {
        var ids = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
          return id && id !== errorId;
        });
        if (showing) ids.push(errorId);
        if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
        else control.removeAttribute("aria-describedby");
        if (control.matches("input, textarea, select")) {
          if (showing) control.setAttribute("aria-invalid", "true");
          else control.removeAttribute("aria-invalid");
        }
      });
      if (!showing) {
        document.querySelectorAll(".error-summary a[href='#cf-" + name + "']").forEach(function (link) {
          link.closest("li").remove();
        });
      }
    });
    document.querySelectorAll(".error-summary").forEach(function (summary) {
      if (summary.querySelector("ul") && !summary.querySelector("li")) summary.hidden = true;
    });
    // The red bar beside a field (or group) shows exactly while a message inside it does.
    document.querySelectorAll(".consultation-form > .field, .consultation-form > .field-group")
      .forEach(function (wrap) {
        wrap.classList.toggle("field--error", !!wrap.querySelector(".field-error"));
      });
  }

  document.addEventListener("htmx:finally:request", function (event) {
    if (event.target && event.target.hasAttribute && event.target.hasAttribute("data-check-field")) {
      sync();
    }
  });
})();
