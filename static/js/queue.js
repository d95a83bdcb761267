// The staff's work queue, kept current while it is open: every few seconds (data-poll-ms) it
// asks /staff/queue-state, sending X-Staff-Poll so that polling is not activity (an open tab
// still times out). The tab's title and the "N new" badge follow the count of new requests;
// when requests arrive a polite live region says so, and when anything the list depends on
// changed, the list is fetched again and swapped in, keeping the scroll position, the focused
// element and ticked boxes. Nothing here is needed to use the page: without JavaScript it is
// a plain page to reload.
(function () {
  "use strict";

  var live = document.getElementById("queue-live");
  if (!live || !window.fetch) return;
  var stateUrl = live.getAttribute("data-state-url");
  var every = parseInt(live.getAttribute("data-poll-ms"), 10) || 30000;
  var latest = parseInt(live.getAttribute("data-latest"), 10) || 0;
  var known = {
    fresh: parseInt(live.getAttribute("data-new"), 10) || 0,
    action: parseInt(live.getAttribute("data-action"), 10) || 0
  };
  var announcer = document.getElementById("queue-announcer");
  var baseTitle = document.title.replace(/^\(\d+\) /, "");
  var inFlight = 0;
  var timer = null;
  var stopped = false;
  var lastList = null;

  document.addEventListener("htmx:before:request", function () { inFlight += 1; });
  document.addEventListener("htmx:finally:request", function () {
    inFlight = Math.max(0, inFlight - 1);
  });

  function schedule() {
    if (!stopped) timer = window.setTimeout(poll, every);
  }

  function headers(extra) {
    var all = { "X-Staff-Poll": "1" };
    for (var name in extra) all[name] = extra[name];
    return all;
  }

  function showCount(count) {
    document.title = (count > 0 ? "(" + count + ") " : "") + baseTitle;
    var badge = document.getElementById("new-count");
    if (!badge) return;
    var number = badge.querySelector("strong");
    if (number) number.textContent = String(count);
    badge.classList.toggle("new-count--some", count > 0);
  }

  function announce(arrived) {
    if (!announcer || arrived < 1) return;
    announcer.textContent =
      arrived === 1 ? "1 new request arrived." : arrived + " new requests arrived.";
  }

  // A selector that finds the same element in the fresh list: its id, or a link's address.
  function keyOf(element) {
    if (element.id) return "#" + CSS.escape(element.id);
    var href = element.getAttribute && element.getAttribute("href");
    if (href && element.tagName === "A") return 'a[href="' + CSS.escape(href) + '"]';
    return null;
  }

  function swapList(html) {
    var list = document.getElementById("request-list");
    if (!list || html === lastList) return;
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var fresh = holder.content.querySelector("#request-list");
    if (!fresh) return;
    lastList = html;
    var active = document.activeElement;
    var focusKey = active && list.contains(active) ? keyOf(active) : null;
    var ticked = [];
    list.querySelectorAll("input[type=checkbox]:checked").forEach(function (box) {
      if (box.id) ticked.push(box.id);
    });
    var bulk = document.getElementById("bulk-status");
    var bulkValue = bulk ? bulk.value : null;
    var x = window.scrollX;
    var y = window.scrollY;
    list.replaceWith(fresh);
    if (window.htmx && typeof window.htmx.process === "function") window.htmx.process(fresh);
    ticked.forEach(function (id) {
      var box = document.getElementById(id);
      if (box) box.checked = true;
    });
    var freshBulk = document.getElementById("bulk-status");
    if (freshBulk && bulkValue) freshBulk.value = bulkValue;
    if (focusKey) {
      var target = fresh.querySelector(focusKey) || document.getElementById("list-title");
      if (target) target.focus({ preventScroll: true });
    }
    window.scrollTo(x, y);
  }

  function refreshList() {
    var address = location.pathname + location.search;
    return fetch(address, {
      headers: headers({ "HX-Request": "true" }),
      credentials: "same-origin",
      redirect: "manual"
    }).then(function (response) {
      if (!response.ok) throw new Error("list " + response.status);
      return response.text();
    }).then(function (html) {
      // Someone searched or paged meanwhile: their answer wins.
      if (inFlight > 0 || location.pathname + location.search !== address) return;
      swapList(html);
    });
  }

  function poll() {
    if (inFlight > 0 || document.querySelector("dialog.reauth[open]")) return schedule();
    var url = stateUrl + "?since=" + encodeURIComponent(String(latest));
    fetch(url, { headers: headers({ Accept: "application/json" }), credentials: "same-origin",
                 redirect: "manual" })
      .then(function (response) {
        if (!response.ok) {
          // Signed out (a redirect or 401): stop; the next thing the person does says so.
          stopped = response.type === "opaqueredirect" || response.status === 401 ||
            response.status === 403;
          throw new Error("state " + response.status);
        }
        return response.json();
      })
      .then(function (state) {
        showCount(state["new"]);
        announce(state.arrived);
        var changed = state.latest !== latest || state["new"] !== known.fresh ||
          state.action !== known.action;
        latest = state.latest;
        known = { fresh: state["new"], action: state.action };
        if (changed) return refreshList();
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ })
      .then(schedule);
  }

  schedule();
})();
