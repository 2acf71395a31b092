// Stands in for Chart.js in a qpstat built without it (Chart.js was not found
// at build time: Debian's libjs-chart.js, or QPS_CHARTJS=FILE; SME Server and
// EL have no package of it). The dashboard and the HTML report then show
// their tables and no charts.
