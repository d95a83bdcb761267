// Staff area: when an action (a note, a status) is sent after the session has ended, the
// server answers with a sign-in dialog appended to the page. Open it as a modal dialog
// (focus inside, Escape closes it), and once signed in, give every form on the page the new
// session's token, so the action can be sent again without retyping anything.
(function () {
  "use strict";

  var opener = null;

  document.addEventListener("htmx:before:request", function (event) {
    var source = event.target;
    if (source && source.closest && source.closest("dialog.reauth")) return;
    opener = document.activeElement;
  });

  function openNewest() {
    var dialogs = document.querySelectorAll("dialog.reauth");
    if (!dialogs.length) return;
    for (var i = 0; i < dialogs.length - 1; i++) dialogs[i].remove();
    var dialog = dialogs[dialogs.length - 1];
    if (dialog.open) return;
    dialog.addEventListener("close", function () {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
    });
    dialog.showModal();
  }

  function useNewToken() {
    var done = document.querySelector("dialog.reauth [data-new-csrf]");
    if (!done) return;
    var token = done.getAttribute("data-new-csrf");
    document.querySelectorAll("input[name='csrf']").forEach(function (input) {
      input.value = token;
    });
    var next = done.querySelector("button");
    if (next) next.focus();
  }

  document.addEventListener("htmx:after:swap", function () {
    openNewest();
    useNewToken();
  });
})();
