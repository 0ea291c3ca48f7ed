/* anyedge notes: theme toggle and reading time. Loaded in <head>, no dependencies. */
(function () {
    "use strict";
    var root = document.documentElement;
    var KEY = "anyedge-theme";

    // Apply a saved choice before first paint so the page does not flash.
    function saved() {
        try { return localStorage.getItem(KEY); } catch (e) { return null; }
    }
    function current() {
        var t = root.getAttribute("data-theme");
        if (t) return t;
        return window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches
            ? "dark" : "light";
    }
    var s = saved();
    if (s === "dark" || s === "light") root.setAttribute("data-theme", s);

    function ready() {
        var btn = document.querySelector(".theme-toggle");
        if (btn) {
            var label = function () {
                var next = current() === "dark" ? "light" : "dark";
                btn.setAttribute("aria-label", "Switch to " + next + " theme");
                btn.title = "Switch to " + next + " theme";
            };
            label();
            btn.addEventListener("click", function () {
                var next = current() === "dark" ? "light" : "dark";
                root.setAttribute("data-theme", next);
                try { localStorage.setItem(KEY, next); } catch (e) { /* private mode */ }
                label();
            });
        }

        // Reading time: about 220 words a minute, code blocks count too.
        var out = document.querySelector("[data-reading-time]");
        var body = document.querySelector(".prose");
        if (out && body) {
            var words = (body.textContent || "").trim().split(/\s+/).length;
            var mins = Math.max(1, Math.round(words / 220));
            out.textContent = mins + " min read";
            out.hidden = false;
        }
    }
    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", ready);
    } else {
        ready();
    }
})();
