import { readFileSync } from 'node:fs';
import { dtypeInfo } from '../checkpoint/dtype.js';
import type { ModuleNode } from '../checkpoint/module-tree.js';
import { numelOf } from '../checkpoint/tensor.js';
import type { Change } from '../graph/diff.js';
import { defaultCollapsed, type Drawing } from './drawing.js';
import { layoutDrawing } from './layout.js';
import { CHANGE_COLOURS, escapeXml, graphSvg } from './svg.js';

const number = (n: number): string => n.toLocaleString('en-US');

const STYLE = `body{font-family:sans-serif;margin:0;color:#222}header{padding:8px 12px;border-bottom:1px solid #ddd;position:sticky;top:0;background:#fff;display:flex;gap:16px;align-items:center;flex-wrap:wrap;z-index:1}
header input{padding:4px 8px;width:18em}.summary div{margin:1px 0}main{padding:12px;overflow:auto}.hit rect{stroke:#e05a00;stroke-width:3}.dim{opacity:.25}
.legend span{display:inline-block;padding:0 6px;margin-right:4px;border:2px solid;border-radius:3px;font-size:12px}
.module-label,[data-collapsed]{cursor:pointer}button{font-size:12px}
details{margin-left:1.2em}summary{cursor:pointer}table{border-collapse:collapse;margin:2px 0 6px 1.2em;font-size:12px}td{padding:1px 8px;border-bottom:1px solid #eee}td:nth-child(4),td:nth-child(5){text-align:right}
.bar{display:flex;height:18px;margin:8px 0;border:1px solid #ccc}.bar span{display:block;height:100%;overflow:hidden;font-size:11px;white-space:nowrap;color:#fff}
${Object.entries(CHANGE_COLOURS)
  .map(([change, c]) => `tr.${change}{background:${c.fill}}details.${change}>summary{color:${c.stroke}}.legend .${change}{border-color:${c.stroke};background:${c.fill}}`)
  .join('')}
tr.same,details.same>summary{color:#999}tr.removed td:first-child{text-decoration:line-through}`;

/** The page script, built by scripts/build-client.mjs; read once, when a page is first made. */
function clientScript(): string {
  const url = new URL('../../dist/view/client.js', import.meta.url);
  let script: string;
  try {
    script = readFileSync(url, 'utf8');
  } catch {
    throw new Error(`the page script ${url.pathname} is missing: run npm run build`);
  }
  // inlined in a <script> element, which the first "</script" would end
  if (/<\/script/i.test(script)) throw new Error('the page script contains </script and cannot be inlined');
  return script;
}

export interface PageParts {
  readonly title: string;
  /** Lines at the top: what the page shows, or what changed. */
  readonly summary: readonly string[];
  readonly body: string;
  /** A comparison: show the colours' legend. */
  readonly diff?: boolean;
  /** A graph: show the buttons that expand or collapse every module. */
  readonly graph?: boolean;
}

/** A page that stands alone: its style, drawing and script inline, nothing fetched. */
export function page(parts: PageParts): string {
  const legend = parts.diff ? '<span class="legend"><span class="added">added</span><span class="removed">removed</span><span class="changed">changed</span><span>unchanged</span></span>' : '';
  const buttons = parts.graph ? '<span><button id="expand-all" type="button">expand all</button> <button id="collapse-all" type="button">collapse modules</button></span>' : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(parts.title)}</title><style>${STYLE}</style></head>
<body><header><strong>${escapeXml(parts.title)}</strong><span class="summary">${parts.summary.map((line) => `<div>${escapeXml(line)}</div>`).join('')}</span>${legend}${buttons}<input id="search" type="search" placeholder="find a node, module, tensor or key"></header>
<main>${parts.body}</main><script>${clientScript()}</script></body></html>
`;
}

/**
 * A graph as the page shows it: the drawing laid out with its default modules collapsed, and the
 * drawing itself as JSON, for the page script to lay out again when a module is collapsed or expanded.
 */
export function graphBody(drawing: Drawing): string {
  const collapsed = defaultCollapsed(drawing);
  // JSON inside <script>: "<" escaped so no name can end the element
  const data = JSON.stringify({ drawing, collapsed }).replace(/</g, '\\u003c');
  return `<div id="graph">${graphSvg(layoutDrawing(drawing, collapsed))}</div><script type="application/json" id="drawing-data">${data}</script>`;
}

/** What happened to one tensor of a compared checkpoint, and how it is told (`shape [1000, 2048] → [10, 2048]`). */
export interface KeyChange {
  readonly change: Change;
  readonly detail: string;
}

/**
 * A checkpoint's modules as nested, collapsible sections, each with its tensors; a bar of where the
 * parameters are. Keys are searched by their full path in the file (`keyPrefix`: the state dict's own).
 * With `changes` (a comparison), each tensor and module is marked with what happened to it; the
 * sections holding a change are open, the others closed and greyed.
 */
export function checkpointBody(tree: ModuleNode, keyPrefix = '', changes?: ReadonlyMap<string, KeyChange>): string {
  const colours = ['#4a7bd0', '#d0714a', '#4ab07a', '#b04ab0', '#b0a04a', '#4ab0b0', '#7a4ad0', '#d04a7a'];
  const total = tree.params || 1;
  const bar = tree.children
    .filter((child) => child.params > 0)
    .map((child, i) => `<span style="width:${((100 * child.params) / total).toFixed(2)}%;background:${colours[i % colours.length]}" title="${escapeXml(child.path)}: ${number(child.params)} parameters">${escapeXml(child.name)}</span>`)
    .join('');
  const keyOf = (node: ModuleNode, tensor: string): string => `${keyPrefix}${node.path === '' ? tensor : `${node.path}.${tensor}`}`;
  const changeOf = (node: ModuleNode): Change => {
    const inside = new Set<Change>([...node.tensors.map((t) => changes?.get(keyOf(node, t.name))?.change ?? 'same'), ...node.children.map(changeOf)]);
    return inside.size === 1 ? [...inside][0]! : 'changed';
  };
  const section = (node: ModuleNode, top: boolean): string => {
    const rows = node.tensors
      .map((t) => {
        const key = keyOf(node, t.name);
        const known = changes?.get(key);
        const marked = changes ? ` class="${known?.change ?? 'same'}"` : '';
        return `<tr data-key="${escapeXml(key)}"${marked}><td>${escapeXml(t.name)}</td><td>${escapeXml(t.dtype)}</td><td>[${t.shape.join(', ')}]</td><td>${number(numelOf(t.shape))} parameters</td><td>${number(numelOf(t.shape) * dtypeInfo(t.dtype).size)} bytes</td>${known ? `<td>${escapeXml(known.detail)}</td>` : changes ? '<td></td>' : ''}</tr>`;
      })
      .join('');
    const children = node.children.map((child) => section(child, false)).join('');
    const change = changes ? changeOf(node) : undefined;
    const label = `${node.name === '' ? 'model' : `(${escapeXml(node.name)})`}: ${escapeXml(node.description)} — ${number(node.params)} parameters, ${number(node.bytes)} bytes`;
    const open = top || (change !== undefined && change !== 'same');
    return `<details${open ? ' open' : ''}${change ? ` class="${change}"` : ''} data-module="${escapeXml(node.path)}"><summary>${label}</summary>${rows ? `<table>${rows}</table>` : ''}${children}</details>`;
  };
  return `<div class="bar">${bar}</div>${section(tree, true)}`;
}
