import * as Args from '@oclif/core/args';
import { ModsurgCommand } from '../cli/base-command.js';
import type { ChalkInstance } from 'chalk';
import { scanSource, type ScanReport } from '../checkpoint/scan.js';
import { escapeName, ExitCode, ExitWith, ModsurgError } from '../errors.js';
import { openInput } from '../io/files.js';

export default class Scan extends ModsurgCommand {
  static override summary = 'Look for code in checkpoints before anything loads them: exit 1 if a file would run any, 0 if none would.';
  static override description = [
    "Every pickle torch or another reader could unpickle is read, never run: each .pkl member of a zip (referenced or not, two of one name, names differing only in case), every pickle of a legacy file, bytes after a pickle's STOP, raw pickles (.pkl, .pickle, .joblib), .npy files of objects. In each, every opcode that imports or calls (GLOBAL, STACK_GLOBAL, INST, REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, BUILD, EXT) is judged against an allowlist: what torch.load(weights_only=True) allows, plus the classes of torch.nn, torchvision, timm and transformers (whole-model pickles). Anything else is dangerous, named with its opcode and offset. safetensors and ONNX files hold no code.",
    '',
    'Exit codes: 0 every file is clean, 1 at least one is dangerous, 2 one could not be read (and none is dangerous).',
  ].join('\n');
  static override examples = ['<%= config.bin %> scan downloaded.pth', '<%= config.bin %> scan *.bin *.safetensors --json'];
  static override strict = false;
  static override args = { files: Args.string({ description: 'checkpoints to scan (several allowed)', required: true }) };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Scan);
    const reporter = this.reporter(flags);
    const reports = (argv as string[]).map((file) => ({ file, ...scanFile(file) }));
    for (const report of reports) {
      // an unreadable file is an error, on stderr as every command's are; the others are the report
      if (report.verdict === 'unreadable') process.stderr.write(`${reporter.errColour.red('error:')} ${escapeName(`${report.file}: ${report.error}`)}\n`);
      else reporter.info(describe(report, reporter.colour));
    }
    reporter.json({ inputs: reports.map((r) => r.file), ok: reports.every((r) => r.verdict === 'clean'), files: reports });
    if (reports.some((r) => r.verdict === 'dangerous')) throw new ExitWith(ExitCode.different);
    if (reports.some((r) => r.verdict === 'unreadable')) throw new ExitWith(ExitCode.error);
  }
}

function scanFile(file: string): ScanReport {
  let source;
  try {
    source = openInput(file);
  } catch (error) {
    if (!(error instanceof ModsurgError)) throw error;
    return { verdict: 'unreadable', kind: 'unknown', pickles: [], findings: [], suspicious: [], error: error.message };
  }
  try {
    return scanSource(source);
  } finally {
    source.close();
  }
}

function describe(report: ScanReport & { file: string }, colour: ChalkInstance): string {
  const file = escapeName(report.file);
  const pickles = `${report.pickles.length} pickle${report.pickles.length === 1 ? '' : 's'}`;
  const lines =
    report.verdict === 'dangerous'
      ? [`${file}: ${colour.bold(colour.red('DANGER'))} (${report.kind}, ${pickles}): loading it runs code`, ...report.findings.map((f) => `  ${f.global}  (${f.op} at byte ${f.offset} of ${f.where})`)]
      : [`${file}: ${colour.green('clean')} (${report.kind}${report.pickles.length > 0 ? `, ${pickles}` : ''})`];
  if (report.verdict === 'dangerous' && report.error) lines.push(`  and then unreadable: ${escapeName(report.error)}`);
  for (const note of report.suspicious) lines.push(`  suspicious: ${note}`);
  return lines.join('\n');
}
