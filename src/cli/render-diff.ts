import type { ChalkInstance } from 'chalk';
import type { DiffReport } from '../checkpoint/diff.js';

/** The human report of `diff`: one line per difference, then a summary. */
export function renderDiff(report: DiffReport, a: string, b: string, c: ChalkInstance): string {
  const lines: string[] = [];
  for (const d of report.differences) {
    switch (d.kind) {
      case 'only-in-a':
        lines.push(`${c.red('-')} ${d.key}  (only in ${a})`);
        break;
      case 'only-in-b':
        lines.push(`${c.green('+')} ${d.key}  (only in ${b})`);
        break;
      case 'dtype':
        lines.push(`${c.yellow('~')} ${d.key}  dtype ${d.a} → ${d.b}`);
        break;
      case 'shape':
        lines.push(`${c.yellow('~')} ${d.key}  shape [${d.a.join(', ')}] → [${d.b.join(', ')}]`);
        break;
      case 'values':
        lines.push(`${c.yellow('~')} ${d.key}  values differ: ${d.mismatched} of ${d.numel}, max abs diff ${d.maxAbsDiff.toPrecision(4)}`);
        break;
      case 'value':
        lines.push(`${c.yellow('~')} ${d.key}  ${d.a} → ${d.b}`);
        break;
    }
  }
  if (report.prefixHint) {
    const { side, prefix } = report.prefixHint;
    lines.push(`hint: the keys differ only by the prefix '${prefix}' on ${side === 'a' ? a : b}; try modsurg strip-prefix --prefix ${prefix}`);
  }
  lines.push(
    report.differences.length === 0
      ? `${c.green('equal')}: ${report.compared} keys compared`
      : `${c.red('different')}: ${report.differences.length} differences (${report.compared} keys in both files)`,
  );
  return lines.join('\n');
}
