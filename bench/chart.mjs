// bench/results.svg: time against file size, one panel per kind of work, one line per tool. Plain SVG
// written by hand: a few polylines need no charting library.

const COLOURS = { modsurg: '#d62728', cp: '#1f77b4', 'cat | cat': '#1f77b4', torch: '#ff7f0e', 'python onnx': '#2ca02c' };
const PANELS = [
  ['strip-prefix', 'strip-prefix'],
  ['replace-head', 'replace-head --classes 10'],
  ['pipeline', 'cat F | strip-prefix | replace-head'],
  ['to-safetensors', 'convert → safetensors'],
  ['onnx-add-output', 'add-output (ONNX, inline)'],
  ['onnx-add-output-external', 'add-output (ONNX, external data)'],
];

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderSvg(report) {
  const panels = PANELS.map(([id, title]) => ({ id, title, rows: report.results.filter((r) => r.id === id && r.size !== null) })).filter((p) => p.rows.length > 0);
  const width = 340;
  const height = 240;
  const columns = Math.min(3, panels.length);
  const svgWidth = columns * width + 20;
  const svgHeight = Math.ceil(panels.length / columns) * height + 50;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${svgWidth}" height="${svgHeight}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-size="13" font-weight="bold">modsurg against the tools it replaces: wall time (s, median) against file size — ${escape(report.machine.date)}, ${escape(report.machine.commit)}, ${escape(report.machine.cpu)}</text>`,
  ];
  panels.forEach((panel, index) => {
    const x0 = 10 + (index % columns) * width;
    const y0 = 30 + Math.floor(index / columns) * height;
    parts.push(...renderPanel(panel, x0, y0, width - 20, height - 20));
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function renderPanel(panel, x0, y0, w, h) {
  const left = 44;
  const bottom = 34;
  const top = 22;
  const plotW = w - left - 10;
  const plotH = h - top - bottom;
  const sizes = [...new Set(panel.rows.map((r) => r.size))].sort((a, b) => a - b);
  const tools = [...new Set(panel.rows.flatMap((r) => r.cells.map((c) => c.tool)))];
  const maxY = Math.max(...panel.rows.flatMap((r) => r.cells.filter((c) => c.median !== undefined).map((c) => c.median))) * 1.1 || 1;
  const logMin = Math.log2(sizes[0]);
  const logMax = Math.log2(sizes[sizes.length - 1]);
  const px = (size) => x0 + left + (logMax === logMin ? plotW / 2 : ((Math.log2(size) - logMin) / (logMax - logMin)) * plotW);
  const py = (seconds) => y0 + top + plotH - (seconds / maxY) * plotH;
  const out = [
    `<text x="${x0 + left}" y="${y0 + 14}" font-weight="bold">${escape(panel.title)}</text>`,
    `<line x1="${x0 + left}" y1="${y0 + top + plotH}" x2="${x0 + left + plotW}" y2="${y0 + top + plotH}" stroke="#444"/>`,
    `<line x1="${x0 + left}" y1="${y0 + top}" x2="${x0 + left}" y2="${y0 + top + plotH}" stroke="#444"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const value = (maxY * i) / 4;
    out.push(`<text x="${x0 + left - 4}" y="${py(value) + 4}" text-anchor="end" fill="#444">${value >= 10 ? value.toFixed(0) : value.toFixed(1)}</text>`);
    if (i > 0) out.push(`<line x1="${x0 + left}" y1="${py(value)}" x2="${x0 + left + plotW}" y2="${py(value)}" stroke="#eee"/>`);
  }
  for (const size of sizes) {
    const label = size >= 1024 ? `${(size / 1024).toFixed(size % 1024 ? 1 : 0)} GiB` : `${size} MiB`;
    out.push(`<text x="${px(size)}" y="${y0 + top + plotH + 14}" text-anchor="middle" fill="#444">${label}</text>`);
  }
  tools.forEach((tool, i) => {
    const colour = COLOURS[tool] ?? '#7f7f7f';
    const points = panel.rows.flatMap((r) => r.cells.filter((c) => c.tool === tool && c.median !== undefined).map((c) => [px(r.size), py(c.median)]));
    if (points.length > 1) out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of points) out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${colour}"/>`);
    const lx = x0 + left + 6 + i * 78;
    out.push(`<rect x="${lx}" y="${y0 + h - 12}" width="10" height="10" fill="${colour}"/>`, `<text x="${lx + 14}" y="${y0 + h - 3}">${escape(tool)}</text>`);
  });
  return out;
}
