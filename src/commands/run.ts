import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError, ExitWith } from '../errors.js';
import { Progress } from '../cli/report.js';
import { boundaryCastNote } from '../runtime/boundary-cast.js';
import { filesNamedBy, inputFlags, inputSettings, providerFlags, toleranceFlags, toleranceOf } from '../runtime/cli-flags.js';
import { parseProviderChoice } from '../runtime/providers.js';
import { loadReferences, type Reference } from '../runtime/references.js';
import { providerLine, runJson, runText } from '../runtime/run-report.js';
import { compareOutputs, referenceTensors, runModel, type ComparisonReport } from '../runtime/run-model.js';
import { writeNpyFolder, writeNpzFile } from '../runtime/tensor-files.js';
import { localFileOf } from '../io/files.js';

export default class Run extends ModsurgCommand {
  static override description = `Run an ONNX model with onnxruntime and report its outputs; optionally compare them with reference outputs.

Inputs come from .npy, .npz or JSON files, or are made from the model's declared dtype and shape (random, seeded).
bfloat16 and float8 inputs and outputs (onnxruntime-node has none) are fed and fetched as float32, through Cast nodes in an in-memory copy of the model. String tensors are fed from .npy (unicode or bytes) and JSON.
--ep auto tries CUDA, then the CPU, and says which ran. With --compare, exits 1 when an output is outside the tolerance, 0 when all match.`;

  static override examples = [
    '<%= config.bin %> run model.onnx',
    '<%= config.bin %> run model.onnx --input input=x.npy --compare output=expected.npy',
    '<%= config.bin %> run bert.onnx --dim batch=2 --dim seq=128 --range input_ids=0:30522 --json',
    '<%= config.bin %> run model.onnx --ep cuda --repeat 50 --warmup 5',
    '<%= config.bin %> run model.onnx --input inputs.npz --output-dir out/ --save outputs.npz',
  ];

  static override args = {
    model: Args.string({ description: 'the .onnx model, or - for stdin', required: true }),
  };

  static override flags = {
    ...inputFlags,
    ep: Flags.string({ default: 'auto', description: 'execution provider: auto (CUDA, then CPU), cpu, cuda, webgpu, or a preference list like cuda,cpu' }),
    ...providerFlags,
    compare: Flags.string({
      multiple: true,
      multipleNonGreedy: true,
      description: 'expected outputs: NAME=FILE.npy, FILE.npy (one-output model), FILE.npz, or a folder of NAME.npy',
      helpValue: 'REF',
    }),
    ...toleranceFlags,
    'output-dir': Flags.string({ description: 'write each output to DIR/NAME.npy' }),
    save: Flags.string({ description: 'write the outputs to one .npz' }),
    'save-inputs': Flags.string({ description: 'write the inputs used (given or made up) to one .npz, to replay them' }),
    repeat: Flags.integer({ default: 0, min: 0, description: 'time this many runs after the first and report latency p50/p90/min' }),
    warmup: Flags.integer({ default: 1, min: 0, description: 'untimed runs before the timed ones (with --repeat)' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Run);
    const reporter = this.reporter(flags);
    const { specs, options } = inputSettings(flags);
    const choice = parseProviderChoice(flags.ep);
    for (const path of [flags.save, flags['save-inputs']]) {
      if (path !== undefined && !/\.npz$/i.test(path)) throw new ModsurgError('expected a file name ending in .npz', path);
    }
    let references: Map<string, Reference> | undefined;
    const progress = new Progress('timing', flags.warmup + flags.repeat, { enabled: process.stderr.isTTY === true && !flags.quiet, unit: 'runs' });
    // a model piped in (`modsurg add-output … -o - | modsurg run -`) is run from a temporary copy
    const result = await runModel({
      modelPath: localFileOf(args.model),
      choice,
      deviceId: flags['device-id'],
      inputSpecs: specs,
      inputOptions: options,
      warmup: flags.warmup,
      repeat: flags.repeat,
      verboseLog: flags.debug,
      onTimedRun: (done) => progress.update(done),
      beforeRun: (signature) => {
        if (flags.compare) references = loadReferences(flags.compare, signature.outputs.map((o) => o.name));
      },
    });
    progress.finish();
    if (!flags.quiet && !flags.json) {
      if (result.boundaryCast) process.stderr.write(`${boundaryCastNote(result.model, result.boundaryCast)}\n`);
      process.stderr.write(`${providerLine(result.ep, result.skipped)}\n`);
    }

    const saved: string[] = [];
    if (flags['output-dir'] !== undefined) saved.push(...(await writeNpyFolder(flags['output-dir'], result.outputs)));
    if (flags.save !== undefined) {
      await writeNpzFile(flags.save, result.outputs);
      saved.push(flags.save);
    }
    if (flags['save-inputs'] !== undefined) {
      await writeNpzFile(flags['save-inputs'], new Map(result.inputs.inputs.map((i) => [i.name, i.tensor])));
      saved.push(flags['save-inputs']);
    }

    const comparison: ComparisonReport | undefined = references ? compareOutputs(result.outputs, referenceTensors(references), toleranceOf(flags)) : undefined;
    reporter.info(runText(result, comparison));
    if (saved.length > 0) reporter.info(`wrote ${saved.join(', ')}`);
    reporter.json({ inputs: [args.model, ...filesNamedBy(flags.input), ...filesNamedBy(flags.compare)], ok: comparison?.pass ?? true, ...runJson(result, comparison, saved) });
    if (comparison && !comparison.pass) throw new ExitWith(1);
  }
}
