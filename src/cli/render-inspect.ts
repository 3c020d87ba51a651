import type { ScanReport } from '../checkpoint/scan.js';
import { escapeName } from '../errors.js';
import type { ChalkInstance } from 'chalk';
import type { CheckpointSummary, StateDictSummary } from '../checkpoint/inspect.js';
import type { ModuleNode } from '../checkpoint/module-tree.js';

const number = (n: number): string => n.toLocaleString('en-US');

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** The tensors of one module on one line: `float32: weight[4, 3, 3, 3] bias[4]`. */
function tensorText(node: ModuleNode, c: ChalkInstance): string {
  if (node.tensors.length === 0) return '';
  const dtypes = new Set(node.tensors.map((t) => t.dtype));
  const one = dtypes.size === 1;
  const parts = node.tensors.map((t) => `${t.name}${one ? '' : ` ${t.dtype}`}[${t.shape.join(', ')}]`);
  return c.dim(`  ${one ? `${[...dtypes][0]}: ` : ''}${parts.join(' ')}`);
}

/** The module tree, drawn the way `print(net)` draws a model. */
export function renderTree(root: ModuleNode, c: ChalkInstance, depth = Infinity): string[] {
  const lines: string[] = [];
  const draw = (node: ModuleNode, indent: string, label: string, level: number): void => {
    const head = `${indent}${label}${c.bold(node.description)}`;
    if (node.children.length === 0) {
      lines.push(`${head}${tensorText(node, c)}`);
      return;
    }
    if (level >= depth) {
      lines.push(`${head}(…)${c.dim(`  ${node.children.length} children, ${number(node.params)} params`)}`);
      return;
    }
    lines.push(`${head}(${tensorText(node, c)}`);
    for (const child of node.children) draw(child, `${indent}  `, `(${child.name}): `, level + 1);
    lines.push(`${indent})`);
  };
  draw(root, '', '', 0);
  return lines;
}

function renderStateDict(sd: StateDictSummary, c: ChalkInstance, depth: number, modelRepr: string | undefined): string[] {
  const dtypes = Object.entries(sd.totals.dtypes).map(([d, n]) => `${d} ${n}`).join(', ');
  const lines = [
    `${c.bold(sd.path === '' ? 'state dict' : `state dict '${sd.path}'`)}${sd.recovered ? ' (recovered from the whole model)' : ''}: ` +
      `${number(sd.totals.tensors)} tensors, ${number(sd.totals.params)} parameters, ${formatBytes(sd.totals.bytes)} (${dtypes})`,
  ];
  if (sd.prefixes.length > 0) {
    lines.push(`  every key starts with ${sd.prefixes.map((p) => `'${p}'`).join(' then ')}: remove with modsurg strip-prefix --prefix ${sd.prefixes[0]}`);
  }
  if (sd.recovered && modelRepr !== undefined) {
    lines.push(`  the model, as print(model) shows it:`, ...modelRepr.split('\n').map((l) => `  ${l}`));
  } else {
    lines.push(`  modules ${c.dim('(inferred from the keys and shapes; a whole-model pickle would name them)')}:`, ...renderTree(sd.tree, c, depth).map((l) => `  ${l}`));
  }
  return lines;
}

/** The human report of `inspect` for a checkpoint. */
export function renderCheckpointSummary(file: string, size: number, s: CheckpointSummary, c: ChalkInstance, depth: number): string {
  const details = Object.entries(s.details).map(([k, v]) => `${k} ${v}`).join(', ');
  const lines = [`${c.bold(file)}: ${s.format}, ${formatBytes(size)}${details ? ` (${details})` : ''}`];
  if (s.modelClass) lines.push(`whole-model pickle of ${c.bold(s.modelClass)} (needs its code to load in Python; modsurg reads it without)`);
  if (s.metadata) lines.push(`metadata: ${JSON.stringify(s.metadata)}`);
  if (s.structure.length > 0) {
    lines.push('contents:');
    for (const { key, description } of s.structure) lines.push(`  ${key}: ${description}`);
  }
  for (const sd of s.stateDicts) lines.push('', ...renderStateDict(sd, c, depth, s.modelRepr));
  if (s.stateDicts.length > 1) {
    lines.push('', `total: ${number(s.totals.tensors)} tensors, ${number(s.totals.params)} parameters, ${formatBytes(s.totals.bytes)}`);
  }
  if (s.globals.length > 0) lines.push('', `pickle globals: ${s.globals.map((g) => (g.safe ? g.name : c.red(g.name))).join(', ')}`);
  return lines.join('\n');
}

/** Loud warnings about globals torch's weights_only loader refuses, the dangerous ones first. */
export function unsafeGlobalWarnings(s: CheckpointSummary, scanned?: ScanReport): string[] {
  const warnings: string[] = [];
  // the scan's verdict where the file could be scanned (a file, not a pipe); else the globals' deny-list
  const flagged = scanned ? [...new Set(scanned.findings.map((f) => f.global))] : s.globals.filter((g) => g.dangerous).map((g) => escapeName(g.name));
  if (flagged.length > 0) {
    warnings.push(
      `DANGER: loading this file runs code: ${flagged.join(', ')}${scanned ? ' (outside the allowlist of modsurg scan, which says where)' : ''}; do not load it with torch.load(weights_only=False) or pickle (modsurg executed nothing)`,
    );
  }
  const unsafe = s.globals.filter((g) => !g.safe && !flagged.includes(escapeName(g.name)));
  if (unsafe.length > 0) {
    warnings.push(
      `this file references ${unsafe.length} global${unsafe.length === 1 ? '' : 's'} outside torch's weights_only allowlist (${unsafe.map((g) => escapeName(g.name)).join(', ')}): torch.load(weights_only=True) refuses it${flagged.length > 0 ? '' : '; loading it with weights_only=False runs that code'}`,
    );
  }
  return warnings;
}
