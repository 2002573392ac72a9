// trainyard console: progressive enhancement. Every page works without this file; with it,
// times are shown in the browser's time zone, running durations tick, the project switcher
// submits on change, and a log follows live (server-sent events). The job list's in-place
// filtering and paging are htmx attributes in the page (htmx-2.0.11.min.js).
(function () {
  "use strict";
  var skew = 0; // server clock minus browser clock, ms (from <body data-now>)
  var NAMES = ["UNKNOWN", "INIT", "IMAGE_CREATING", "IMAGE_FAILED", "SUBMIT_TRYING",
    "SUBMIT_FAILED", "DELETE_FAILED", "WAITING", "RUNNING", "KILLING", "COMPLETED", "FAILED",
    "KILLED", "CANCELED", "LOST", "SCALING", "SUBMIT_MODEL_FAILED", "DEPLOY_SERVICE_FAILED",
    "CHECK_INIT", "CHECK_RUNNING", "CHECK_RUNNING_COMPLETED", "CHECK_FAILED", "MOUNT_FAILED"];

  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  // the same format as the server's (format::duration)
  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    s = s % 60;
    if (d > 0) return d + "d " + pad(h) + "h " + pad(m) + "m";
    if (h > 0) return h + "h " + pad(m) + "m " + pad(s) + "s";
    if (m > 0) return m + "m " + pad(s) + "s";
    return s + "s";
  }

  var timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      if (t.dataset.local) return;
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      t.title = t.textContent;
      t.textContent = timeFormat.format(d);
      t.dataset.local = "1";
    });
  }

  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll(".dur[data-start]").forEach(function (e) {
      e.textContent = duration(now - Number(e.dataset.start));
    });
  }

  function autosubmit(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      var button = s.form && s.form.querySelector("button[type=submit]");
      if (button) button.hidden = true;
      s.addEventListener("change", function () { s.form.submit(); });
    });
  }

  function follow() {
    var pre = document.getElementById("log");
    if (!pre || !pre.dataset.stream || typeof EventSource === "undefined") return;
    var state = document.getElementById("log-state");
    var url = pre.dataset.stream + "&offset=" + encodeURIComponent(pre.dataset.offset || "0");
    var first = true;
    var es = new EventSource(url);
    function say(text) { if (state) state.textContent = text; }
    say(" · following live");
    es.addEventListener("log", function (ev) {
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      var text = ev.data.endsWith("\n") ? ev.data : ev.data + "\n";
      if (first) { pre.textContent = text; first = false; } else { pre.append(text); }
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    });
    es.addEventListener("end", function (ev) {
      es.close();
      var code = Number(ev.data);
      say(" · the version ended" + (NAMES[code] ? " (" + NAMES[code] + ")" : "") + "; reload for its final status");
      pre.dataset.ended = ev.data;
    });
    es.addEventListener("error", function () {
      if (es.readyState === EventSource.CLOSED) say(" · stopped following");
      else say(" · reconnecting…");
    });
  }

  function enhance(root) {
    localTimes(root);
    autosubmit(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var now = Number(document.body.dataset.now);
    if (now) skew = now - Date.now();
    document.documentElement.classList.add("js");
    enhance(document);
    tick();
    setInterval(tick, 1000);
    follow();
    document.body.addEventListener("htmx:afterSettle", function (e) {
      var fresh = document.getElementById("listing");
      var n = fresh && Number(fresh.dataset.now);
      if (n) skew = n - Date.now();
      enhance(e.target || document);
      tick();
    });
  });
})();
