// Draws each chart of the gateway page with uPlot (served by the control plane as /assets/uplot.js).
// The numbers are already on the page as text; the plots are a picture of them (aria-hidden).
for (const el of document.querySelectorAll('[data-chart]')) {
  const { label, unit, span, x, y } = JSON.parse(el.dataset.chart);
  if (x.length === 0 || typeof uPlot === 'undefined') continue;
  const width = Math.max(240, el.clientWidth || 480);
  new uPlot(
    {
      width,
      height: 140,
      legend: { show: false },
      scales: { x: { time: true, range: () => span } },
      series: [{}, { label: `${label} (${unit})`, stroke: '#1f5fa8', width: 2, spanGaps: false }],
      axes: [{}, { size: 60 }],
    },
    [x, y],
    el,
  );
}
