import type { ChalkInstance } from 'chalk';
import type { DiffReport, ValueGap } from '../checkpoint/diff.js';

function gapText(gap: ValueGap): string {
  return gap.mismatched === 0 ? `all equal (max abs diff ${gap.maxAbsDiff.toPrecision(4)})` : `${gap.mismatched} of ${gap.numel} differ, max abs diff ${gap.maxAbsDiff.toPrecision(4)}`;
}

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
        lines.push(`${c.yellow('~')} ${d.key}  dtype ${d.a} → ${d.b}${d.values ? `, values: ${gapText(d.values)}` : ''}`);
        break;
      case 'shape':
        lines.push(`${c.yellow('~')} ${d.key}  shape [${d.a.join(', ')}] → [${d.b.join(', ')}]`);
        break;
      case 'values':
        lines.push(`${c.yellow('~')} ${d.key}  values differ: ${gapText(d)}`);
        break;
      case 'value':
        lines.push(`${c.yellow('~')} ${d.key}  ${d.a} → ${d.b}`);
        break;
    }
  }
  for (const cast of report.casts) lines.push(`${c.dim('=')} ${cast.key}  dtype ${cast.a} → ${cast.b}, values within --atol (max abs diff ${cast.maxAbsDiff.toPrecision(4)})`);
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
