// Draws the Plotly figures the server built: each <div data-chart="ID"> gets the
// figure in <script type="application/json" id="ID"> (written by json_script).
// Runs on page load and after htmx swaps, so fragments with charts work too.
(function () {
  "use strict";

  function draw(root) {
    if (typeof window.Plotly === "undefined") return;
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.chart);
      if (!source) return;
      var fig = JSON.parse(source.textContent);
      el.dataset.drawn = "1";
      window.Plotly.newPlot(el, fig.data, fig.layout || {}, {
        responsive: true,
        displaylogo: false,
        modeBarButtonsToRemove: ["sendDataToCloud"],
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  // After an htmx swap the event's target may be the element that was replaced,
  // so look at the whole document: charts already drawn are skipped.
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
  window.RadCharts = { draw: draw };
})();
