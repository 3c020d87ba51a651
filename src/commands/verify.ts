import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { ModsurgCommand } from '../cli/base-command.js';
import { ModsurgError, ExitWith } from '../errors.js';
import { boundaryCastNote } from '../runtime/boundary-cast.js';
import { inputFlags, inputSettings, providerFlags, toleranceFlags, toleranceOf } from '../runtime/cli-flags.js';
import { isProviderName, parseProviderChoice, PROVIDERS } from '../runtime/providers.js';
import { providerLine, verifyJson, verifyText } from '../runtime/run-report.js';
import { verifyRuns, type VerifyTarget } from '../runtime/verify-models.js';

export default class Verify extends ModsurgCommand {
  static override description = `Run two models on the same inputs and compare every output they share by name, or one model on two execution providers.

A is the reference and B is checked against it. With --ep-compare P,Q the model runs on P and is checked against Q (cuda,cpu: the GPU against the CPU).
Inputs not given are random, with the same seed for both runs. Exits 1 when an output is outside the tolerance, 0 when all match.`;

  static override examples = [
    '<%= config.bin %> verify original.onnx edited.onnx',
    '<%= config.bin %> verify original.onnx edited.onnx --input input=x.npy --atol 1e-4',
    '<%= config.bin %> verify model.onnx --ep-compare cuda,cpu --atol 1e-4 --json',
  ];

  static override args = {
    a: Args.string({ description: 'the reference .onnx model', required: true }),
    b: Args.string({ description: 'the .onnx model to check against A (omit with --ep-compare)' }),
  };

  static override flags = {
    ...inputFlags,
    ep: Flags.string({ default: 'auto', description: 'execution provider for both models: auto (CUDA, then CPU), cpu, cuda, webgpu, or a list like cuda,cpu' }),
    'ep-compare': Flags.string({ description: 'run model A on two providers and compare: CANDIDATE,REFERENCE (e.g. cuda,cpu)', helpValue: 'P,Q' }),
    ...providerFlags,
    ...toleranceFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Verify);
    const reporter = this.reporter(flags);
    const { specs, options } = inputSettings(flags);
    const target = targetOf(args.a, args.b, flags.ep, flags['ep-compare']);
    const result = await verifyRuns({
      target,
      deviceId: flags['device-id'],
      inputSpecs: specs,
      inputOptions: options,
      tolerance: toleranceOf(flags),
      verboseLog: flags.debug,
    });
    if (!flags.quiet && !flags.json) {
      const sides = target.kind === 'models' ? [result.reference] : [result.candidate, result.reference];
      for (const side of [result.reference, result.candidate]) {
        if (side.boundaryCast && !(target.kind === 'providers' && side === result.candidate)) process.stderr.write(`${boundaryCastNote(side.model, side.boundaryCast)}\n`);
      }
      for (const side of sides) process.stderr.write(`${providerLine(side.ep, side.skipped)}\n`);
    }
    reporter.info(verifyText(result));
    reporter.json({ inputs: [args.a, ...(args.b !== undefined ? [args.b] : [])], ok: result.comparison.pass, ...verifyJson(result) });
    if (!result.comparison.pass) throw new ExitWith(1);
  }
}

function targetOf(a: string, b: string | undefined, ep: string, epCompare: string | undefined): VerifyTarget {
  if (epCompare === undefined) {
    if (b === undefined) throw new ModsurgError('give two models (verify A.onnx B.onnx), or one model with --ep-compare P,Q');
    return { kind: 'models', reference: a, candidate: b, choice: parseProviderChoice(ep) };
  }
  if (b !== undefined) throw new ModsurgError('--ep-compare runs one model on two providers; give only one model');
  // Parsed by hand rather than as a preference list: the same provider twice (cpu,cpu) is a valid determinism check.
  const names = epCompare.split(',').map((name) => name.trim().toLowerCase());
  const [candidate, reference] = names;
  if (names.length !== 2 || candidate === undefined || reference === undefined || !isProviderName(candidate) || !isProviderName(reference)) {
    throw new ModsurgError(`--ep-compare ${epCompare}: expected two providers, CANDIDATE,REFERENCE, each one of ${PROVIDERS.join(', ')} (e.g. cuda,cpu)`);
  }
  return { kind: 'providers', model: a, candidate, reference };
}
