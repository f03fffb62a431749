// Gantry console: times in the viewer's zone, live updates of a page's
// live part over server-sent events, and the task definition editor's
// check before it submits. No framework, no request beyond this origin.
"use strict";
(function () {
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.textContent = el.classList.contains("clock") ?
        d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" }) :
        d.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
    });
  }
  localTimes(document);
  // Chart axes: the range's ends in the viewer's zone, UTC on hover.
  function chartTimes(root) {
    root.querySelectorAll("tspan[data-utc]").forEach(function (el) {
      var d = new Date(el.getAttribute("data-utc"));
      if (isNaN(d)) return;
      el.textContent = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
    });
  }
  chartTimes(document);

  var live = document.getElementById("live");
  var state = document.getElementById("live-state");
  if (live && live.dataset.live === "on" && window.EventSource) {
    var es = new EventSource(location.pathname + location.search);
    es.onmessage = function (e) {
      // The server renders the HTML (escaped by html/template); keep the
      // focused element's id to restore focus after the swap.
      var focused = document.activeElement && document.activeElement.id;
      live.innerHTML = e.data;
      localTimes(live);
      chartTimes(live);
      if (focused) { var f = document.getElementById(focused); if (f) f.focus(); }
      if (state) state.textContent = "Live: updated " + new Date().toLocaleTimeString();
    };
    es.addEventListener("signedout", function () { es.close(); location.href = live.dataset.signin; });
    es.onerror = function () { if (state) state.textContent = "Live: reconnecting…"; };
  }

  var editor = document.getElementById("taskdef-json");
  if (editor) {
    var form = editor.form, msg = document.getElementById("taskdef-check");
    form.addEventListener("submit", function (e) {
      var problem = "";
      try {
        var v = JSON.parse(editor.value);
        if (typeof v !== "object" || v === null || Array.isArray(v)) problem = "The task definition must be a JSON object.";
        else if (!v.family) problem = "The task definition needs a family.";
        else if (!Array.isArray(v.containerDefinitions) || v.containerDefinitions.length === 0) problem = "The task definition needs at least one container definition.";
      } catch (err) { problem = "The task definition is not valid JSON: " + err.message; }
      if (problem) {
        e.preventDefault();
        msg.textContent = problem;
        editor.setAttribute("aria-invalid", "true");
        editor.focus();
      }
    });
  }

  document.querySelectorAll("form[data-confirm-name]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      var want = f.dataset.confirmName, got = f.querySelector("input[name=confirm]").value;
      if (got !== want) { e.preventDefault(); f.querySelector(".confirm-msg").textContent = "Type " + want + " to confirm."; }
    });
  });
})();
