// The trace types RadReview's charts draw (analytics/charts.py): scatter (in core),
// bar, heatmap and sankey. A chart of another type needs it added here and build.sh rerun.
'use strict';

var Plotly = require('plotly.js/lib/core');

Plotly.register([require('plotly.js/lib/bar'), require('plotly.js/lib/heatmap'), require('plotly.js/lib/sankey')]);

module.exports = Plotly;
