import { ModsurgCommand } from '../cli/base-command.js';
import { examine, type DoctorReport } from '../runtime/doctor.js';
import { renderTable } from '../runtime/run-report.js';

export default class Doctor extends ModsurgCommand {
  static override description = `Check what can run models here: Node and onnxruntime-node versions, the GPU, and which execution providers really load.

Each provider is tried on a tiny model built in memory. Missing CUDA or cuDNN libraries are named, with the command that installs them. Exits 0 with or without a GPU.`;

  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json'];

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    const reporter = this.reporter(flags);
    const report = await examine(flags.debug);
    reporter.info(doctorText(report));
    reporter.json({ inputs: [], ...report });
  }
}

function doctorText(report: DoctorReport): string {
  const lines = [
    `node ${report.node} (${report.platform})`,
    `onnxruntime-node ${report.onnxruntime.version}${report.onnxruntime.loadError ? `: FAILED TO LOAD: ${report.onnxruntime.loadError}` : ''}`,
    `  binding: ${report.onnxruntime.bindingDir}`,
    `  files: ${report.onnxruntime.files.join(', ') || '(none)'}`,
    `gpu: ${report.gpu.devices.length > 0 ? report.gpu.devices.map((d) => `${d.name}, driver ${d.driver}, ${d.memory}`).join('; ') : report.gpu.note}`,
    'execution providers',
    ...renderTable(report.providers.map((p) => [p.name, p.works ? 'works' : 'no', p.works ? `ran on ${p.ranOn ?? p.name}` : (p.reason ?? '')])),
  ];
  const cuda = report.providers.find((p) => p.name === 'cuda');
  if (cuda) {
    lines.push('CUDA provider libraries');
    lines.push(...renderTable(cuda.libraries.map((l) => [l.name, l.path ?? 'MISSING', l.role])));
  }
  const install = report.providers.filter((p) => !p.works).flatMap((p) => p.install.map((command) => `  ${p.name}: ${command}`));
  if (install.length > 0) lines.push('to install what is missing', ...install);
  const gpuWorks = report.providers.some((p) => p.name !== 'cpu' && p.works);
  lines.push(
    gpuWorks
      ? `summary: a GPU provider works (${report.providers.filter((p) => p.name !== 'cpu' && p.works).map((p) => p.name).join(', ')}); --ep auto will use it`
      : `summary: no GPU provider works here${report.gpu.devices.length === 0 ? ' (no GPU)' : ''}; models run on the CPU`,
  );
  return lines.join('\n');
}
