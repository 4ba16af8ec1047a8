/* Herald's only script: times in the viewer's zone, and the board's quiet refresh. No build step. */
(function () {
  "use strict";

  var format = new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });

  /* <time datetime="…Z" data-local>UTC text</time> -> the viewer's zone; the UTC text stays as a tooltip. */
  function localise(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      el.title = el.textContent;
      el.textContent = format.format(moment);
      el.removeAttribute("data-local");
    });
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) root.querySelectorAll("[data-viewer-zone]").forEach(function (el) { el.textContent = zone; });
  }

  function startRefresh(board) {
    var url = board.getAttribute("data-live-url");
    var seconds = parseFloat(board.getAttribute("data-refresh-seconds")) || 15;
    var state = document.getElementById("refresh-state");
    var last = null;
    var timer = null;

    function say(text, problem) {
      if (!state) return;
      state.textContent = text;
      state.classList.toggle("error", !!problem);
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(refresh, seconds * 1000);
    }

    function refresh() {
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.status === 401) {
            say("Your session has ended, so the board is no longer refreshing. ", true);
            if (state) {
              var link = document.createElement("a");
              link.href = board.getAttribute("data-login-url");
              link.textContent = "Sign in again";
              state.appendChild(link);
            }
            return null;
          }
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text().then(function (html) {
            /* Announce (role=status) only what changed, not every poll. */
            if (html !== last) {
              last = html;
              board.innerHTML = html;
              localise(board);
              say("Board updated at " + new Date().toLocaleTimeString() + ".", false);
            } else if (state && state.classList.contains("error")) {
              say("Board is current again.", false);
            }
            schedule();
          });
        })
        .catch(function () {
          say("Could not refresh at " + new Date().toLocaleTimeString() + " — what you see may be stale. Retrying.", true);
          schedule();
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") refresh();
    });
    schedule();
  }

  document.addEventListener("DOMContentLoaded", function () {
    localise(document);
    var board = document.getElementById("board");
    if (board && board.getAttribute("data-live-url")) startRefresh(board);
  });
})();
