import type { Reporter, TestModule } from 'vitest/node';

/**
 * After vitest's own summary, says which tests were skipped and why, grouped by reason: a count of
 * skipped tests alone hides a missing oracle or GPU. The reason is the `skip(note)` note, or the
 * `(skipped: …)` a suite puts in its name.
 */
export default class SkipSummary implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const reasons = new Map<string, string[]>();
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state !== 'skipped') continue;
        const reason = result.note ?? /\(skipped: ([^)]*)\)/.exec(test.fullName)?.[1] ?? 'no reason given';
        const list = reasons.get(reason) ?? [];
        list.push(module.moduleId.replace(`${process.cwd()}/`, ''));
        reasons.set(reason, list);
      }
    }
    if (reasons.size === 0) return;
    const lines = [...reasons].map(([reason, files]) => `  ${files.length} skipped: ${reason} (${[...new Set(files)].join(', ')})`);
    process.stdout.write(`\nSkipped tests, by reason:\n${lines.join('\n')}\n\n`);
  }
}
