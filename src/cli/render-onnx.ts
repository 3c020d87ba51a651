import type { ChalkInstance } from 'chalk';
import type { OnnxModuleNode, OnnxSummary, ValueSummary } from '../graph/summary.js';
import { formatBytes } from './render-inspect.js';

const number = (n: number): string => n.toLocaleString('en-US');

const sourceWords: Record<string, string> = {
  name_scopes: "the dynamo exporter's name scopes",
  node_name: "the exporter's node names",
  initializer: 'initializer names',
  constant: 'the modules reading their constants',
};

function valueText(value: ValueSummary): string {
  const shape = value.shape === null ? '[?]' : `[${value.shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
  return `${value.dtype ?? '?'}${shape}`;
}

function opsText(ops: Record<string, number>): string {
  return Object.entries(ops)
    .map(([op, n]) => (n > 1 ? `${op} ×${n}` : op))
    .join(', ');
}

/** A module's initializers on one line, named relative to the module (`weight`, not `layer1.0.conv1.weight`). */
function initializersText(node: OnnxModuleNode, c: ChalkInstance): string {
  if (node.initializers.length === 0) return '';
  const dtypes = new Set(node.initializers.map((t) => t.dtype));
  const one = dtypes.size === 1;
  const prefix = node.path === '' ? '' : `${node.path}.`;
  const parts = node.initializers.map((t) => {
    const name = prefix !== '' && t.name.startsWith(prefix) ? t.name.slice(prefix.length) : t.name;
    return `${name}${one ? '' : ` ${t.dtype}`}[${t.shape.join(', ')}]`;
  });
  return c.dim(`  ${one ? `${[...dtypes][0]}: ` : ''}${parts.join(' ')}`);
}

/** The module tree, drawn like `print(net)`: each module with its own ops and the weights they read. */
export function renderModuleTree(root: OnnxModuleNode, c: ChalkInstance, depth = Infinity): string[] {
  const lines: string[] = [];
  const draw = (node: OnnxModuleNode, indent: string, label: string, level: number): void => {
    const ops = opsText(node.ops);
    const weights = initializersText(node, c);
    // the classic exporter names modules but not their classes: a container without one reads `Module(`
    const kind = node.kind ?? (level === 0 ? 'Model' : node.children.length > 0 ? 'Module' : '');
    if (node.children.length === 0) {
      // a leaf without a class is described by its ops
      lines.push(`${indent}${label}${c.bold(kind)}${ops === '' ? '' : `${kind === '' ? '' : '  '}${ops}`}${weights}`);
      return;
    }
    if (level >= depth) {
      lines.push(`${indent}${label}${c.bold(kind)}(…)${c.dim(`  ${number(node.nodes)} nodes, ${number(node.params)} params`)}`);
      return;
    }
    lines.push(`${indent}${label}${c.bold(kind)}(`);
    // what the module computes itself, beside its children (a residual Add, a flattening Reshape): a line of its own
    if (ops !== '' || weights !== '') lines.push(`${indent}  ${c.dim('(own ops):')} ${ops}${weights}`);
    for (const child of node.children) draw(child, `${indent}  `, `(${child.name}): `, level + 1);
    lines.push(`${indent})`);
  };
  draw(root, '', '', 0);
  return lines;
}

/** The human report of `inspect` for an ONNX model. */
export function renderOnnxSummary(file: string, size: number, s: OnnxSummary, c: ChalkInstance, depth: number): string {
  const opsets = s.opsets.map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? `opset ${o.version}` : `${o.domain} ${o.version}`)).join(', ');
  const producer = [s.producer.name, s.producer.version].filter((p) => p !== '').join(' ');
  const lines = [`${c.bold(file)}: ONNX, ${formatBytes(size)} (IR ${s.irVersion}, ${opsets}${producer === '' ? '' : `, producer ${producer}`})`];
  lines.push(`graph${s.graphName === '' ? '' : ` '${s.graphName}'`}: ${number(s.nodes)} nodes`);
  const io = (title: string, values: ValueSummary[]): void => {
    lines.push(`${title}:${values.length === 0 ? ' none' : ''}`);
    const width = Math.max(0, ...values.map((v) => v.name.length));
    for (const v of values) lines.push(`  ${v.name.padEnd(width)}  ${valueText(v)}`);
  };
  io('inputs', s.inputs);
  io('outputs', s.outputs);
  lines.push(`ops: ${opsText(s.ops) || 'none'}`);
  const dtypes = Object.entries(s.totals.dtypes).map(([d, n]) => `${d} ${n}`).join(', ');
  lines.push(
    `parameters: ${number(s.totals.tensors)} initializers, ${number(s.totals.params)} parameters, ${formatBytes(s.totals.bytes)}${dtypes === '' ? '' : ` (${dtypes})`}`,
  );
  const held = s.constants;
  if (held.tensors > 0) {
    const where = held.inSubgraphs === held.tensors ? ', all inside subgraphs (If/Loop branches)' : held.inSubgraphs > 0 ? `, ${number(held.inSubgraphs)} inside subgraphs (If/Loop branches)` : '';
    lines.push(`  and held in Constant nodes: ${number(held.tensors)} floating-point tensors, ${number(held.params)} parameters, ${formatBytes(held.bytes)}${where}`);
  }
  for (const f of s.externalData) lines.push(`external data: ${f.location} (${number(f.tensors)} initializers, ${formatBytes(f.bytes)})`);
  if (s.modules === null) {
    lines.push('', 'modules: none recorded (no name scopes, scoped node names or state-dict initializer names)');
  } else {
    const [main] = Object.entries(s.scopeSources).sort((a, b) => b[1] - a[1])[0] ?? ['node_name'];
    const outside = s.nodes - s.modules.nodes;
    lines.push('', `modules (from ${sourceWords[main] ?? main}${outside > 0 ? `; ${number(outside)} nodes outside any module` : ''}):`);
    lines.push(...renderModuleTree(s.modules, c, depth).map((l) => `  ${l}`));
  }
  return lines.join('\n');
}
