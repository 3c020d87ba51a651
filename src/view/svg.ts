import type { Change } from '../graph/diff.js';
import { boxText, type GraphView, type PlacedBox } from './layout.js';

/** Text as HTML or SVG text content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Colours of a comparison: added green, removed red, changed amber; unchanged drawn grey. */
export const CHANGE_COLOURS: Record<Exclude<Change, 'same'>, { stroke: string; fill: string }> = {
  added: { stroke: '#1f8a3b', fill: '#d9f2df' },
  removed: { stroke: '#c8372d', fill: '#fadcd9' },
  changed: { stroke: '#c98a00', fill: '#fcefcf' },
};

const KIND_FILL: Record<PlacedBox['kind'], string> = { input: '#d8f0d8', output: '#f6e2c0', op: '#ffffff', module: '#e8eefa' };

/** Stroke, fill, dashes and opacity of a box or edge: by its change in a comparison, by its kind otherwise. */
function paint(change: Change | undefined, diff: boolean, fill: string): string {
  if (!diff || change === undefined || change === 'same') return `fill="${fill}" stroke="${diff ? '#9a9a9a' : '#333'}"${diff ? ' opacity="0.55"' : ''}`;
  const colour = CHANGE_COLOURS[change];
  return `fill="${colour.fill}" stroke="${colour.stroke}" stroke-width="2"${change === 'removed' ? ' stroke-dasharray="5 3"' : ''}`;
}

/** Width of a character of an edge's label (9 px sans-serif). */
const LABEL_CHAR_WIDTH = 5.2;

/** Where an edge's label goes: the middle point of its route. */
function middle(points: readonly { x: number; y: number }[]): { x: number; y: number } {
  return points[Math.floor(points.length / 2)]!;
}

/**
 * The laid-out graph as one SVG: module boxes (innermost drawn last), edges with their type labels, boxes
 * with an initializer badge; a comparison's parts coloured by what changed. Classes and data attributes
 * name each part (`node op added`, `data-name`), for the page's script and for tests.
 */
export function graphSvg(view: GraphView): string {
  const parts: string[] = [];
  // edge labels are not part of the layout: widen the drawing to the longest one's end
  const width = Math.ceil(Math.max(view.width, ...view.edges.filter((e) => e.label && e.points.length > 0).map((e) => middle(e.points).x + 4 + e.label.length * LABEL_CHAR_WIDTH + 8)));
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${view.height}" viewBox="0 0 ${width} ${view.height}" font-family="sans-serif" font-size="12">`);
  const arrow = (id: string, colour: string): string =>
    `<marker id="${id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="${colour}"/></marker>`;
  parts.push(`<defs>${arrow('arrow', '#888')}${Object.entries(CHANGE_COLOURS).map(([change, c]) => arrow(`arrow-${change}`, c.stroke)).join('')}</defs>`);
  const byDepth = [...view.modules].sort((a, b) => a.path.split('.').length - b.path.split('.').length);
  for (const m of byDepth) {
    const title = m.kind ? `${m.path}: ${m.kind}` : m.path;
    const colour = view.diff && m.change && m.change !== 'same' ? CHANGE_COLOURS[m.change].stroke : view.diff ? '#9a9a9a' : '#4a7bd0';
    parts.push(
      `<g class="module${m.change ? ` ${m.change}` : ''}" data-module="${escapeXml(m.path)}"><rect x="${m.x}" y="${m.y}" width="${m.width}" height="${m.height}" rx="6" fill="${colour}" fill-opacity="0.06" stroke="${colour}" stroke-opacity="0.6"/>` +
        `<text class="module-label" x="${m.x + 6}" y="${m.y + 12}" fill="${colour}" font-size="10">▾ ${escapeXml(title)}<title>collapse ${escapeXml(m.path)}</title></text></g>`,
    );
  }
  for (const edge of view.edges) {
    if (edge.points.length === 0) continue;
    const d = edge.points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
    const mid = middle(edge.points);
    const changed = view.diff && edge.change !== undefined && edge.change !== 'same' ? edge.change : undefined;
    const stroke = changed ? `stroke="${CHANGE_COLOURS[changed].stroke}" stroke-width="1.6"${changed === 'removed' ? ' stroke-dasharray="5 3"' : ''} marker-end="url(#arrow-${changed})"` : `stroke="${view.diff ? '#bbb' : '#888'}" marker-end="url(#arrow)"`;
    parts.push(
      `<g class="edge${edge.change ? ` ${edge.change}` : ''}" data-tensor="${escapeXml(edge.tensor)}"><path d="${d}" fill="none" ${stroke}/>` +
        (edge.label ? `<text x="${(mid.x + 4).toFixed(1)}" y="${mid.y.toFixed(1)}" fill="#666" font-size="9">${escapeXml(edge.label)}</text>` : '') +
        `<title>${escapeXml(edge.tensor)}${edge.label ? `: ${escapeXml(edge.label)}` : ''}</title></g>`,
    );
  }
  for (const box of view.boxes) {
    const title = [
      box.kind === 'module' ? `${box.module === '' ? '' : `${box.module}.`}${box.label}; click to expand` : box.name || box.label,
      box.kind !== 'module' && box.module ? `module ${box.module}` : '',
      box.change && box.change !== 'same' ? box.change : '',
      ...(box.why ?? []),
      ...box.weights.map((w) => `reads ${w}`),
    ].filter((t) => t !== '');
    const extra = box.kind === 'module' ? ` data-collapsed="${escapeXml(box.id.slice(2))}"` : '';
    parts.push(
      `<g class="node ${box.kind}${box.change ? ` ${box.change}` : ''}" data-name="${escapeXml(box.name)}" data-module="${escapeXml(box.module)}"${extra}>` +
        `<rect x="${box.x}" y="${box.y}" width="${box.width}" height="${box.height}" rx="${box.kind === 'module' ? 8 : 4}" ${paint(box.change, view.diff, KIND_FILL[box.kind])}/>` +
        `<text x="${box.x + box.width / 2}" y="${box.y + box.height / 2 + 4}" text-anchor="middle">${escapeXml(boxText(box))}</text><title>${escapeXml(title.join('\n'))}</title></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}
