import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, relative } from 'node:path';
import { ModsurgError } from '../errors.js';

/**
 * Execution providers: parsing `--ep`, and finding out why one cannot load. onnxruntime-node only
 * says "Failed to load shared library"; the missing file is named on native stderr at best. So we look
 * for the provider libraries next to the binding and for the CUDA libraries where the loader looks.
 */

export const PROVIDERS = ['cuda', 'webgpu', 'cpu'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export interface ProviderChoice {
  /** Tried in order; the first that loads runs the model. */
  readonly candidates: readonly ProviderName[];
  /** Whether a provider that cannot load may give way to the next (false for one explicit provider). */
  readonly fallback: boolean;
  /** What the user asked for, for messages. */
  readonly requested: string;
}

/** `auto` (CUDA, then CPU), one provider, or a comma list in order of preference. */
export function parseProviderChoice(text: string): ProviderChoice {
  const requested = text.trim().toLowerCase();
  if (requested === 'auto') return { candidates: ['cuda', 'cpu'], fallback: true, requested };
  const names = requested.split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (names.length === 0) throw new ModsurgError(`--ep: no provider given (use auto, cpu, cuda, webgpu or a list like cuda,cpu)`);
  const candidates: ProviderName[] = [];
  for (const name of names) {
    if (!isProviderName(name)) throw new ModsurgError(`--ep: unknown execution provider '${name}' (known: auto, ${PROVIDERS.join(', ')})`);
    if (!candidates.includes(name)) candidates.push(name);
  }
  return { candidates, fallback: candidates.length > 1, requested };
}

export function isProviderName(name: string): name is ProviderName {
  return (PROVIDERS as readonly string[]).includes(name);
}

/** What onnxruntime calls the provider in profiles and logs. */
export const ORT_PROVIDER_IDS: Readonly<Record<ProviderName, string>> = {
  cpu: 'CPUExecutionProvider',
  cuda: 'CUDAExecutionProvider',
  webgpu: 'WebGpuExecutionProvider',
};

export interface OrtPackage {
  readonly version: string;
  /** The package folder (node_modules/onnxruntime-node). */
  readonly packageDir: string;
  /** Where the native binding and its libraries live (bin/napi-v6/<platform>/<arch>). */
  readonly bindingDir: string;
}

let cachedPackage: OrtPackage | undefined;

export function ortPackage(): OrtPackage {
  if (cachedPackage) return cachedPackage;
  const require = createRequire(import.meta.url);
  const packageDir = dirname(dirname(require.resolve('onnxruntime-node')));
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version?: string };
  cachedPackage = {
    version: manifest.version ?? 'unknown',
    packageDir,
    bindingDir: join(packageDir, 'bin', 'napi-v6', process.platform, process.arch),
  };
  return cachedPackage;
}

export interface LibraryCheck {
  readonly name: string;
  /** Where it was found; undefined when missing. */
  readonly path: string | undefined;
  readonly role: string;
}

export interface ProviderDiagnosis {
  readonly provider: ProviderName;
  /** The provider's own libraries, shipped next to the binding. */
  readonly providerFiles: readonly LibraryCheck[];
  /** System libraries the provider needs at load time (or, for cuDNN, at its first convolution). */
  readonly systemLibraries: readonly LibraryCheck[];
  /** Names of everything missing, provider files first. */
  readonly missing: readonly string[];
  /** What the loader itself (`ldd`) cannot resolve for the provider library: the libraries that stop it loading. */
  readonly unresolved: readonly string[];
  /** Commands that would install what is missing. */
  readonly install: readonly string[];
}

/** onnxruntime 1.27 moved its CUDA builds to CUDA 13 (cuDNN 9); earlier ones use CUDA 12. */
export function cudaMajorFor(ortVersion: string): number {
  const [major, minor] = ortVersion.split('.').map(Number);
  return major === 1 && minor !== undefined && minor < 27 ? 12 : 13;
}

export function diagnoseProvider(provider: ProviderName): ProviderDiagnosis {
  const ort = ortPackage();
  if (provider === 'cpu') return { provider, providerFiles: [], systemLibraries: [], missing: [], unresolved: [], install: [] };
  if (provider === 'webgpu') {
    const vulkan = { name: 'libvulkan.so.1', path: findLibrary('libvulkan.so.1'), role: 'Vulkan loader (WebGPU runs on Vulkan here)' };
    const missing = vulkan.path === undefined ? [vulkan.name] : [];
    return {
      provider,
      providerFiles: [],
      systemLibraries: [vulkan],
      missing,
      unresolved: [],
      install: missing.length > 0 ? ['apt-get install libvulkan1   # plus the GPU driver\'s Vulkan driver (NVIDIA: libnvidia-gl, Mesa: mesa-vulkan-drivers)'] : [],
    };
  }
  const cuda = cudaMajorFor(ort.version);
  const providerFiles: LibraryCheck[] = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'].map((name) => {
    const path = join(ort.bindingDir, name);
    return { name, path: existsSync(path) ? path : undefined, role: 'onnxruntime CUDA provider (not in the npm package)' };
  });
  const wanted: [string, string][] = [
    ['libcuda.so.1', 'NVIDIA driver'],
    [`libcudart.so.${cuda}`, `CUDA ${cuda} runtime`],
    [`libcublas.so.${cuda}`, `cuBLAS (CUDA ${cuda})`],
    [`libcublasLt.so.${cuda}`, `cuBLASLt (CUDA ${cuda})`],
    [`libcurand.so.10`, 'cuRAND'],
    ['libcudnn.so.9', 'cuDNN 9 (loaded at the first convolution)'],
  ];
  const unresolved = lddNotFound(providerFiles[1]!.path);
  const systemLibraries = wanted.map(([name, role]) => ({ name, path: unresolved.has(name) ? undefined : findLibrary(name), role }));
  const extra = [...unresolved].filter((name) => !wanted.some(([w]) => w === name)).map((name) => ({ name, path: undefined, role: 'needed by the CUDA provider' }));
  const all = [...systemLibraries, ...extra];
  const missingFiles = providerFiles.filter((f) => f.path === undefined).map((f) => f.name);
  const missingLibs = all.filter((l) => l.path === undefined).map((l) => l.name);
  const install: string[] = [];
  if (missingFiles.length > 0) {
    const script = relativeIfInside(join(ort.packageDir, 'script', 'install.js'));
    install.push(
      `ONNXRUNTIME_NODE_INSTALL=1 node ${script}   # downloads Microsoft.ML.OnnxRuntime.Gpu.Linux ${ort.version} from nuget into ${relativeIfInside(ort.bindingDir)}`,
      `(offline: copy ${missingFiles.join(', ')} from that nupkg's runtimes/linux-x64/native/ into ${relativeIfInside(ort.bindingDir)}; the version must match onnxruntime-node ${ort.version})`,
    );
  }
  if (missingLibs.includes('libcuda.so.1')) install.push('install the NVIDIA driver (libcuda.so.1 comes with it; none is visible, so this machine may have no NVIDIA GPU)');
  if (missingLibs.some((name) => name !== 'libcuda.so.1')) {
    install.push(
      `pip install "nvidia-cuda-runtime==${cuda}.*" "nvidia-cublas==${cuda}.*" nvidia-curand "nvidia-cudnn-cu${cuda}==9.*"   # or NVIDIA's apt repo: cuda-libraries-${cuda}-0 libcudnn9-cuda-${cuda}`,
      `then put their folders on the loader's path: export LD_LIBRARY_PATH=$(find / \\( -name 'libcudart.so.${cuda}' -o -name 'libcublasLt.so.${cuda}' -o -name 'libcudnn.so.9' -o -name 'libcurand.so.10' \\) -printf '%h:' 2>/dev/null)$LD_LIBRARY_PATH`,
    );
  }
  return { provider, providerFiles, systemLibraries: all, missing: [...missingFiles, ...missingLibs], unresolved: [...unresolved], install };
}

/**
 * One line on why a provider cannot load: its missing files, else the libraries the loader cannot
 * resolve for it, else any other missing library, else the runtime's own message.
 */
export function explainProviderFailure(diagnosis: ProviderDiagnosis, runtimeMessage: string): string {
  const name = diagnosis.provider === 'cuda' ? 'CUDA' : diagnosis.provider === 'webgpu' ? 'WebGPU' : 'CPU';
  const files = diagnosis.providerFiles.filter((f) => f.path === undefined).map((f) => f.name);
  const libs = diagnosis.systemLibraries.filter((l) => l.path === undefined).map((l) => l.name);
  if (files.length > 0) return `${name} provider not installed: ${files.join(' and ')} missing in ${relativeIfInside(ortPackage().bindingDir)}`;
  const others = libs.filter((lib) => !diagnosis.unresolved.includes(lib));
  const alsoMissing = others.length > 0 ? `; also missing: ${others.join(', ')}` : '';
  if (diagnosis.unresolved.length > 0) {
    return `${name} provider cannot load: ${diagnosis.unresolved.join(', ')} not found (needed by libonnxruntime_providers_cuda.so; searched LD_LIBRARY_PATH and ldconfig)${alsoMissing}`;
  }
  if (libs.length > 0) return `${name} provider cannot load: ${libs.join(', ')} not found (LD_LIBRARY_PATH or ldconfig)${runtimeMessage ? `; onnxruntime says: ${firstLine(runtimeMessage)}` : ''}`;
  return `${name} provider failed: ${firstLine(runtimeMessage) || 'no reason given'}`;
}

/**
 * The first line of an onnxruntime message, without the C++ source place and signature it puts before
 * what it means (`/onnxruntime_src/…/model.cc:202 onnxruntime::Model::Model(…) Unsupported model IR version`).
 */
export function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return line.replace(/\/onnxruntime_src\/\S+:\d+ [^\s(]+\((?:[^()]|\([^()]*\))*\)\s*/g, '').trim();
}

function relativeIfInside(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || rel === '' ? path : rel;
}

let ldconfigCache: Map<string, string> | undefined;

function ldconfigEntries(): Map<string, string> {
  if (ldconfigCache) return ldconfigCache;
  ldconfigCache = new Map();
  for (const command of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    const result = spawnSync(command, ['-p'], { encoding: 'utf8' });
    if (result.status !== 0 || typeof result.stdout !== 'string') continue;
    for (const line of result.stdout.split('\n')) {
      const match = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(line);
      // the cache lists every architecture; keep the ones for this process (x86-64 or aarch64)
      if (match && (match[2]!.includes(process.arch === 'x64' ? 'x86-64' : 'AArch64') || !match[2]!.includes(','))) {
        if (!ldconfigCache.has(match[1]!)) ldconfigCache.set(match[1]!, match[3]!);
      }
    }
    break;
  }
  return ldconfigCache;
}

const DEFAULT_LIBRARY_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64', '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu'];

/** Looks where the dynamic loader looks: LD_LIBRARY_PATH, the binding's own folder, the ldconfig cache, the default folders. */
export function findLibrary(soname: string): string | undefined {
  const fromEnv = (process.env.LD_LIBRARY_PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  for (const dir of [...fromEnv, ortPackage().bindingDir]) {
    const path = join(dir, soname);
    if (existsSync(path)) return path;
  }
  const cached = ldconfigEntries().get(soname);
  if (cached !== undefined) return cached;
  for (const dir of DEFAULT_LIBRARY_DIRS) {
    const path = join(dir, soname);
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** The libraries `ldd` cannot resolve for a shared object: the loader's own answer, where ldd exists. */
function lddNotFound(path: string | undefined): Set<string> {
  const missing = new Set<string>();
  if (path === undefined) return missing;
  const result = spawnSync('ldd', [path], { encoding: 'utf8' });
  if (result.status !== 0 || typeof result.stdout !== 'string') return missing;
  for (const line of result.stdout.split('\n')) {
    const match = /^\s*(\S+)\s+=>\s+not found/.exec(line);
    if (match) missing.add(match[1]!);
  }
  return missing;
}
