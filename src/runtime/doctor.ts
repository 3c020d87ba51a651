import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { PROBE_SCRIPT, probeProvider, type ProbeOutcome } from './provider-probe.js';
import { diagnoseProvider, explainProviderFailure, firstLine, ortPackage, PROVIDERS, type LibraryCheck, type ProviderName } from './providers.js';
import { loadOrt } from './session.js';

/**
 * What `doctor` finds out: versions, the GPU, and which execution providers really work here. Each
 * provider is proven by loading and running a tiny in-memory model on it; `listSupportedBackends()`
 * lists CUDA whether or not its libraries exist.
 */

export interface GpuDevice {
  readonly name: string;
  readonly driver: string;
  readonly memory: string;
}

export interface ProviderStatus {
  readonly name: ProviderName;
  /** A session was created and a run gave the right answer. */
  readonly works: boolean;
  /** Why not, in one line (undefined when it works). */
  readonly reason: string | undefined;
  /** Which onnxruntime provider ran the probe's node (from the profiling trace). */
  readonly ranOn: string | undefined;
  readonly missing: readonly string[];
  readonly install: readonly string[];
  readonly libraries: readonly LibraryCheck[];
}

export interface DoctorReport {
  readonly node: string;
  readonly platform: string;
  readonly onnxruntime: { readonly version: string; readonly bindingDir: string; readonly files: readonly string[]; readonly loadError: string | undefined };
  readonly gpu: { readonly devices: readonly GpuDevice[]; readonly note: string };
  readonly providers: readonly ProviderStatus[];
  readonly ldLibraryPath: string;
}

export async function examine(verboseLog = false): Promise<DoctorReport> {
  const ort = ortPackage();
  let files: string[] = [];
  try {
    files = readdirSync(ort.bindingDir).sort();
  } catch {
    // reported as an empty list: the binding folder for this platform is missing
  }
  let loadError: string | undefined;
  try {
    await loadOrt(verboseLog);
  } catch (error) {
    loadError = firstLine(error instanceof Error ? error.message : String(error));
  }
  const providers: ProviderStatus[] = [];
  for (const name of PROVIDERS) providers.push(loadError ? notTried(name, `onnxruntime-node itself failed to load: ${loadError}`) : await checkProvider(name));
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    onnxruntime: { version: ort.version, bindingDir: ort.bindingDir, files, loadError },
    gpu: nvidiaGpus(),
    providers,
    ldLibraryPath: process.env.LD_LIBRARY_PATH ?? '',
  };
}

function notTried(name: ProviderName, reason: string): ProviderStatus {
  const diagnosis = diagnoseProvider(name);
  return { name, works: false, reason, ranOn: undefined, missing: diagnosis.missing, install: diagnosis.install, libraries: [...diagnosis.providerFiles, ...diagnosis.systemLibraries] };
}

async function checkProvider(name: ProviderName): Promise<ProviderStatus> {
  const diagnosis = diagnoseProvider(name);
  const libraries = [...diagnosis.providerFiles, ...diagnosis.systemLibraries];
  const base = { name, missing: diagnosis.missing, install: diagnosis.install, libraries };
  // Without its own provider files (or the Vulkan loader) a provider cannot load; trying only adds native noise.
  const absentFiles = [...diagnosis.providerFiles, ...(name === 'webgpu' ? diagnosis.systemLibraries : [])].filter((f) => f.path === undefined);
  if (absentFiles.length > 0) return { ...base, works: false, reason: explainProviderFailure(diagnosis, ''), ranOn: undefined };
  const outcome = existsSync(PROBE_SCRIPT) && PROBE_SCRIPT.endsWith('.js') ? probeInChild(name) : await probeProvider(name);
  if (outcome.works) return { ...base, ...outcome };
  return { ...base, ...outcome, reason: explainProviderFailure(diagnosis, outcome.reason ?? '') };
}

/** Runs the probe in its own process: a native crash or hang there is a finding, not doctor's end. */
function probeInChild(name: ProviderName): ProbeOutcome {
  const child = spawnSync(process.execPath, [PROBE_SCRIPT, name], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS });
  if (child.error) return { works: false, reason: `the probe did not finish in ${PROBE_TIMEOUT_MS / 1000} s (${child.error.message})`, ranOn: undefined };
  if (child.signal) return { works: false, reason: `the probe crashed (${child.signal})${nativeCause(child.stderr)}`, ranOn: undefined };
  try {
    const outcome = JSON.parse(child.stdout) as ProbeOutcome;
    return outcome.works ? outcome : { ...outcome, reason: `${outcome.reason ?? 'failed'}${nativeCause(child.stderr)}` };
  } catch {
    return { works: false, reason: `the probe exited ${child.status}${nativeCause(child.stderr)}`, ranOn: undefined };
  }
}

const PROBE_TIMEOUT_MS = 60000;

/**
 * onnxruntime names the library that failed to load only in its log ("Failed to load library X with
 * error: Y", "Failed to get symbol S with error: Y"); CUDA runtime failures read "CUDA failure N: …".
 */
export function nativeCause(stderr: string): string {
  const load = /(Failed to (?:load library|get symbol) \S+ with error: [^\n]+)/.exec(stderr);
  const cuda = /(CUDA failure \d+: [^;\n]+|CUDA driver version is insufficient[^;\n]*)/.exec(stderr);
  const found = load?.[1] ?? cuda?.[1];
  // absolute paths are long and say nothing the file name does not
  return found ? ` (onnxruntime: ${found.replace(/\/\S*\/(\S+)/g, '$1').replace(/\x1b\[[0-9;]*m/g, '').trim()})` : '';
}

function nvidiaGpus(): DoctorReport['gpu'] {
  const result = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8', timeout: 20000 });
  if (result.error) return { devices: [], note: 'no NVIDIA GPU found (nvidia-smi is not on PATH)' };
  if (result.status !== 0) return { devices: [], note: `nvidia-smi failed: ${firstLine(`${result.stderr}${result.stdout}`) || `exit ${result.status}`}` };
  const devices = result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [name = '', driver = '', memory = ''] = line.split(',').map((part) => part.trim());
      return { name, driver, memory };
    });
  return { devices, note: devices.length === 0 ? 'nvidia-smi lists no GPU' : `${devices.length} NVIDIA GPU${devices.length > 1 ? 's' : ''}` };
}
