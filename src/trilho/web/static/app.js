/* trilho dashboard: draw plotly figures from data-figure, confirm actions, poll live sections. */
(function () {
  "use strict";

  function drawCharts(root) {
    if (!window.Plotly) return;
    root.querySelectorAll(".chart[data-figure]").forEach(function (el) {
      var fig = JSON.parse(el.getAttribute("data-figure"));
      window.Plotly.react(el, fig.data, fig.layout, { displayModeBar: false, responsive: true });
      el.classList.add("drawn");
    });
  }

  function wireConfirms(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      if (form.dataset.wired) return;
      form.dataset.wired = "1";
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
      });
    });
  }

  function poll() {
    var live = document.getElementById("live");
    var every = parseInt(document.body.getAttribute("data-poll") || "0", 10);
    if (!live || !every) return;
    setInterval(function () {
      if (document.hidden) return;
      fetch(live.getAttribute("data-live"), { credentials: "same-origin", headers: { "X-Requested-With": "poll" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
          if (!fresh || fresh.innerHTML === live.dataset.last) return;
          live.dataset.last = fresh.innerHTML;
          live.innerHTML = fresh.innerHTML;
          wireConfirms(live);
          drawCharts(live);
        })
        .catch(function () { /* the next poll retries */ });
    }, every * 1000);
  }

  function start() {
    drawCharts(document);
    wireConfirms(document);
    var live = document.getElementById("live");
    if (live) live.dataset.last = live.innerHTML;
    poll();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
