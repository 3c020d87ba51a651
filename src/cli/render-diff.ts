import type { ChalkInstance } from 'chalk';
import { describeDifference, type DiffReport } from '../checkpoint/diff.js';

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
      default:
        lines.push(`${c.yellow('~')} ${d.key}  ${describeDifference(d)}`);
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
