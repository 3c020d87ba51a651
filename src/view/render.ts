import type { ModuleNode } from '../checkpoint/module-tree.js';
import type { GraphView } from './onnx-view.js';

/** Text as HTML or SVG text content and attribute values. */
function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const number = (n: number): string => n.toLocaleString('en-US');

/**
 * The graph as one SVG: module boxes (innermost drawn last), edges with their type labels, node boxes
 * with an initializer badge. Everything is positioned already; the SVG stands alone (for documents)
 * and is the body of the HTML page.
 */
export function graphSvg(view: GraphView): string {
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${view.width}" height="${view.height}" viewBox="0 0 ${view.width} ${view.height}" font-family="sans-serif" font-size="12">`);
  parts.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#888"/></marker></defs>');
  const byDepth = [...view.modules].sort((a, b) => a.path.split('.').length - b.path.split('.').length);
  for (const m of byDepth) {
    const title = m.kind ? `${m.path}: ${m.kind}` : m.path;
    parts.push(
      `<g class="module" data-module="${escape(m.path)}"><rect x="${m.x}" y="${m.y}" width="${m.width}" height="${m.height}" rx="6" fill="#4a7bd0" fill-opacity="0.06" stroke="#4a7bd0" stroke-opacity="0.5"/>` +
        `<text x="${m.x + 6}" y="${m.y + 12}" fill="#3a5ea0" font-size="10">${escape(title)}</text></g>`,
    );
  }
  for (const edge of view.edges) {
    if (edge.points.length === 0) continue;
    const d = edge.points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
    const mid = edge.points[Math.floor(edge.points.length / 2)]!;
    parts.push(
      `<g class="edge" data-tensor="${escape(edge.tensor)}"><path d="${d}" fill="none" stroke="#888" marker-end="url(#arrow)"/>` +
        (edge.label ? `<text x="${(mid.x + 4).toFixed(1)}" y="${mid.y.toFixed(1)}" fill="#666" font-size="9">${escape(edge.label)}</text>` : '') +
        `<title>${escape(edge.tensor)}${edge.label ? `: ${escape(edge.label)}` : ''}</title></g>`,
    );
  }
  for (const node of view.nodes) {
    const fill = node.kind === 'input' ? '#d8f0d8' : node.kind === 'output' ? '#f6e2c0' : '#ffffff';
    const badge = node.weights.length > 0 ? `  ◆${node.weights.length}` : '';
    const title = [node.name || node.label, node.module ? `module ${node.module}` : '', ...node.weights.map((w) => `reads ${w}`)].filter((t) => t !== '').join('\n');
    parts.push(
      `<g class="node ${node.kind}" data-name="${escape(node.name)}" data-module="${escape(node.module)}"><rect x="${node.x}" y="${node.y}" width="${node.width}" height="${node.height}" rx="4" fill="${fill}" stroke="#333"/>` +
        `<text x="${node.x + node.width / 2}" y="${node.y + node.height / 2 + 4}" text-anchor="middle">${escape(node.label)}${badge}</text><title>${escape(title)}</title></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

const STYLE = `body{font-family:sans-serif;margin:0;color:#222}header{padding:8px 12px;border-bottom:1px solid #ddd;position:sticky;top:0;background:#fff;display:flex;gap:16px;align-items:center}
header input{padding:4px 8px;width:18em}main{padding:12px;overflow:auto}.hit rect{stroke:#e05a00;stroke-width:3}.dim{opacity:.25}
details{margin-left:1.2em}summary{cursor:pointer}table{border-collapse:collapse;margin:2px 0 6px 1.2em;font-size:12px}td{padding:1px 8px;border-bottom:1px solid #eee}
.bar{display:flex;height:18px;margin:8px 0;border:1px solid #ccc}.bar span{display:block;height:100%;overflow:hidden;font-size:11px;white-space:nowrap;color:#fff}`;

/** Finds nodes, modules, tensors and keys by name: matches are outlined, the rest dimmed. */
const SEARCH = `const box=document.getElementById('search');box.addEventListener('input',()=>{const q=box.value.trim().toLowerCase();
document.querySelectorAll('[data-name],[data-key]').forEach(e=>{const n=(e.dataset.name||e.dataset.key||'').toLowerCase()+' '+(e.dataset.module||'').toLowerCase();
const hit=q!==''&&n.includes(q);e.classList.toggle('hit',hit);e.classList.toggle('dim',q!==''&&!hit);if(hit&&e.tagName==='TR'){let p=e.parentElement;while(p){if(p.tagName==='DETAILS')p.open=true;p=p.parentElement;}}});});`;

/** A page that stands alone: its style, drawing and script inline, nothing fetched. */
export function page(title: string, summary: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title><style>${STYLE}</style></head>
<body><header><strong>${escape(title)}</strong><span class="summary">${escape(summary)}</span><input id="search" type="search" placeholder="find a node, module, tensor or key"></header>
<main>${body}</main><script>${SEARCH}</script></body></html>
`;
}

/**
 * A checkpoint's modules as nested, collapsible sections, each with its tensors; a bar of where the
 * parameters are. Keys are searched by their full path in the file (`keyPrefix`: the state dict's own).
 */
export function checkpointBody(tree: ModuleNode, bytesOf: (module: ModuleNode) => number, keyPrefix = ''): string {
  const colours = ['#4a7bd0', '#d0714a', '#4ab07a', '#b04ab0', '#b0a04a', '#4ab0b0', '#7a4ad0', '#d04a7a'];
  const total = tree.params || 1;
  const bar = tree.children
    .filter((child) => child.params > 0)
    .map((child, i) => `<span style="width:${((100 * child.params) / total).toFixed(2)}%;background:${colours[i % colours.length]}" title="${escape(child.path)}: ${number(child.params)} parameters">${escape(child.name)}</span>`)
    .join('');
  const section = (node: ModuleNode, open: boolean): string => {
    const rows = node.tensors
      .map((t) => `<tr data-key="${escape(`${keyPrefix}${node.path === '' ? t.name : `${node.path}.${t.name}`}`)}"><td>${escape(t.name)}</td><td>${escape(t.dtype)}</td><td>[${t.shape.join(', ')}]</td><td>${number(t.shape.reduce((n, d) => n * d, 1))}</td></tr>`)
      .join('');
    const children = node.children.map((child) => section(child, false)).join('');
    const label = `${node.name === '' ? 'model' : `(${escape(node.name)})`}: ${escape(node.description)} — ${number(node.params)} parameters, ${number(bytesOf(node))} bytes`;
    return `<details${open ? ' open' : ''} data-module="${escape(node.path)}"><summary>${label}</summary>${rows ? `<table>${rows}</table>` : ''}${children}</details>`;
  };
  return `<div class="bar">${bar}</div>${section(tree, true)}`;
}
