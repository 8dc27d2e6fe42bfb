// A line chart rendered to PNG with chart.js in Debian's Chromium (the benchmarks' and the simulator's plots): no
// plotting library beyond the chart.js the pages already use.
import { createRequire } from 'node:module';
import path from 'node:path';
import { CHROMIUM, ROOT, ensureChromium } from './lib.mjs';

/**
 * Writes `file`: a chart.js line chart of `datasets` ({label, data: [{x, y}], …}) with `scales` as chart.js takes
 * them; `tickValues` ({axis: [values]}) labels only those ticks (functions cannot travel into the page).
 */
export async function renderLineChart({ file, width, height, datasets, title, subtitle, scales, legend = { position: 'bottom' }, tickValues = {} }) {
  const { chromium } = await import('playwright-core');
  const chartJs = path.join(path.dirname(createRequire(path.join(ROOT, 'app', 'package.json')).resolve('chart.js')), 'chart.umd.js');
  ensureChromium();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 2 });
    await page.setContent(`<html><body style="margin:0;background:#fff"><div style="width:${width}px;height:${height}px"><canvas id="c"></canvas></div></body></html>`);
    await page.addScriptTag({ path: chartJs });
    await page.evaluate(
      ({ datasets, title, subtitle, scales, legend, tickValues }) => {
        for (const [axis, values] of Object.entries(tickValues)) {
          scales[axis].ticks = { ...scales[axis].ticks, autoSkip: false, callback: (v) => (values.includes(v) ? v.toLocaleString('en-US') : '') };
        }
        new Chart(document.getElementById('c'), {
          type: 'line',
          data: { datasets },
          options: {
            animation: false,
            responsive: true,
            maintainAspectRatio: false,
            layout: { padding: 16 },
            scales,
            plugins: {
              title: { display: true, text: title, font: { size: 17 } },
              subtitle: { display: true, text: subtitle, padding: { bottom: 10 } },
              legend,
            },
          },
        });
      },
      { datasets, title, subtitle, scales, legend, tickValues },
    );
    await page.locator('div').first().screenshot({ path: file });
  } finally {
    await browser.close();
  }
}
