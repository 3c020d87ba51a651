/// <reference lib="dom" />
/**
 * The page's script (bundled with dagre into dist/view/client.js by scripts/build-client.mjs and inlined
 * into every page): the search box, and for a graph collapsing and expanding modules, laid out again
 * by the same code that drew the page.
 */
import type { Drawing } from './drawing.js';
import { layoutDrawing } from './layout.js';
import { graphSvg } from './svg.js';

const searchBox = document.getElementById('search') as HTMLInputElement;

/** Outlines what matches the search (nodes, modules, tensors, keys) and dims the rest; opens sections holding a match. */
function search(): void {
  const query = searchBox.value.trim().toLowerCase();
  document.querySelectorAll<HTMLElement | SVGElement>('[data-name],[data-key]').forEach((element) => {
    const text = `${element.dataset.name ?? element.dataset.key ?? ''} ${element.dataset.module ?? ''}`.toLowerCase();
    const hit = query !== '' && text.includes(query);
    element.classList.toggle('hit', hit);
    element.classList.toggle('dim', query !== '' && !hit);
    if (hit && element.tagName === 'TR') for (let p = element.parentElement; p; p = p.parentElement) if (p instanceof HTMLDetailsElement) p.open = true;
  });
}
searchBox.addEventListener('input', search);

const data = document.getElementById('drawing-data');
const holder = document.getElementById('graph');
if (data && holder) {
  const { drawing, collapsed } = JSON.parse(data.textContent ?? '') as { drawing: Drawing; collapsed: string[] };
  let folded = new Set(collapsed);
  const draw = (): void => {
    holder.innerHTML = graphSvg(layoutDrawing(drawing, [...folded]));
    search();
  };
  holder.addEventListener('click', (event) => {
    const target = event.target as Element;
    const box = target.closest<SVGElement>('[data-collapsed]');
    if (box) {
      folded.delete(box.dataset.collapsed ?? '');
      draw();
      return;
    }
    const module = target.closest('.module-label')?.closest<SVGElement>('g.module');
    if (module) {
      folded.add(module.dataset.module ?? '');
      draw();
    }
  });
  document.getElementById('expand-all')?.addEventListener('click', () => {
    folded = new Set();
    draw();
  });
  document.getElementById('collapse-all')?.addEventListener('click', () => {
    folded = new Set(drawing.modules.map((m) => m.path).filter((path) => !path.includes('.')));
    draw();
  });
}
