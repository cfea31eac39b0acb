// Draws the Plotly figures the server built: each <div data-chart="ID"> gets the
// figure in <script type="application/json" id="ID"> (written by json_script).
// Runs on page load and after htmx swaps, so fragments with charts work too.
// A chart is drawn when it comes near the window (IntersectionObserver): a dashboard of
// many charts answers as soon as the ones on screen are drawn, the others follow as the
// page scrolls (and all before printing). When the charts first on screen are drawn, the
// page marks "radreview:charts-visible" (performance.mark; bench/page_bench.py reads it).
(function () {
  "use strict";

  var MARK = "radreview:charts-visible";
  var observer = null;

  function drawOne(el) {
    if (el.dataset.drawn || typeof window.Plotly === "undefined") return;
    var source = document.getElementById(el.dataset.chart);
    if (!source) return;
    var fig = JSON.parse(source.textContent);
    el.dataset.drawn = "1";
    window.Plotly.newPlot(el, fig.data, fig.layout || {}, {
      responsive: true,
      displaylogo: false,
      modeBarButtonsToRemove: ["sendDataToCloud"],
    });
  }

  function pending(root) {
    return Array.prototype.filter.call(
      (root || document).querySelectorAll("[data-chart]"),
      function (el) { return !el.dataset.drawn && !el.dataset.watched; }
    );
  }

  function markVisible() {
    if (window.performance && performance.mark && !performance.getEntriesByName(MARK).length) {
      performance.mark(MARK);
    }
  }

  function onIntersect(entries, obs) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) {
        obs.unobserve(entry.target);
        drawOne(entry.target);
      }
    });
    markVisible(); // the first call reports every chart watched: those on screen are drawn
  }

  function draw(root) {
    if (typeof window.Plotly === "undefined") return;
    var charts = pending(root);
    if (!charts.length) return;
    if (!("IntersectionObserver" in window)) {
      charts.forEach(drawOne);
      markVisible();
      return;
    }
    observer = observer || new IntersectionObserver(onIntersect, { rootMargin: "200px 0px" });
    charts.forEach(function (el) {
      el.dataset.watched = "1";
      observer.observe(el);
    });
  }

  function drawAll() {
    document.querySelectorAll("[data-chart]").forEach(drawOne);
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  // After an htmx swap the event's target may be the element that was replaced,
  // so look at the whole document: charts already drawn or watched are skipped.
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
  window.addEventListener("beforeprint", drawAll);
  window.RadCharts = { draw: draw, drawAll: drawAll };
})();
