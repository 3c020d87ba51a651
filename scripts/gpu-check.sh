#!/usr/bin/env bash
# The GPU check, end to end, with nothing but `node`, the production node_modules and dist/ (the GPU
# machines have no npm, npx or vitest). From the repository root:
#
#   scripts/gpu-check.sh            # results in ${OUT:-/tmp/out}/gpu-results.md and .json
#
# Steps: modsurg doctor; run --ep cuda on each fixture model against the PyTorch reference outputs;
# verify --ep-compare cuda,cpu on each; a CUDA-vs-CPU latency table. Every step runs even if an
# earlier one failed, and each has a time limit, cut short so that the whole check ends within
# DEADLINE seconds (under 5 minutes). Exit status: 0 when every step passed, 1 otherwise.
#
# Settings (environment): OUT, ATOL (1e-4), REPEAT (50), WARMUP (5), BATCHES ("1 32"),
# STEP_TIMEOUT (90 s), LATENCY_TIMEOUT (150 s), DEADLINE (280 s).
set -uo pipefail

OUT=${OUT:-/tmp/out}
ATOL=${ATOL:-1e-4}
REPEAT=${REPEAT:-50}
WARMUP=${WARMUP:-5}
BATCHES=${BATCHES:-"1 32"}
STEP_TIMEOUT=${STEP_TIMEOUT:-90}
LATENCY_TIMEOUT=${LATENCY_TIMEOUT:-150}
DEADLINE=${DEADLINE:-280}
STEPS_DIR="$OUT/gpu-check"
RESULTS_MD="$OUT/gpu-results.md"
RESULTS_JSON="$OUT/gpu-results.json"
STATUS_LOG="$STEPS_DIR/steps.tsv"

cd "$(dirname "$0")/.." || exit 2
mkdir -p "$STEPS_DIR"
: > "$STATUS_LOG"
SECONDS=0

if [[ ! -f dist/cli/main.js ]]; then echo "gpu-check: dist/ is missing; build the project first (npm run build)" >&2; exit 2; fi
# step NAME FILE-STEM LIMIT -- COMMAND...: runs the command for at most LIMIT seconds (less if the
# deadline is nearer), stdout to STEM.out, stderr to STEM.err, and appends
# "name <TAB> status <TAB> exit code <TAB> seconds <TAB> stem" to the status log.
step() {
  local name=$1 stem=$2 limit=$3; shift 4
  local left=$((DEADLINE - SECONDS))
  (( limit > left )) && limit=$left
  if (( left < 5 )); then
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" skipped - 0 "$stem" >> "$STATUS_LOG"
    echo "== $name: skipped (the ${DEADLINE}s deadline is too near)"
    return
  fi
  echo "== $name"
  local started=$SECONDS rc status
  if command -v timeout >/dev/null 2>&1; then
    timeout "$limit" "$@" > "$STEPS_DIR/$stem.out" 2> "$STEPS_DIR/$stem.err"
  else
    "$@" > "$STEPS_DIR/$stem.out" 2> "$STEPS_DIR/$stem.err"
  fi
  rc=$?
  case $rc in
    0) status=ok ;;
    1) if [[ $name == latency* ]]; then status=failed; else status=mismatch; fi ;;
    124) status=timeout ;;
    *) status=failed ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$((SECONDS - started))" "$stem" >> "$STATUS_LOG"
  echo "   $status (exit $rc, $((SECONDS - started)) s)"
  grep -m1 '^error:' "$STEPS_DIR/$stem.err" | sed 's/^/   /' || true
}

# an array, not a function: `timeout` runs programs only
MODSURG=(node bin/run.js)

# model, its input and its PyTorch reference output
FIXTURES=(
  "resnet fixtures/resnet.onnx fixtures/resnet_input.npy fixtures/resnet_output.npy"
  "resnet_dynamo fixtures/resnet_dynamo.onnx fixtures/resnet_input.npy fixtures/resnet_output.npy"
  "unet fixtures/unet.onnx fixtures/unet_input.npy fixtures/unet_output.npy"
)

step "doctor" doctor "$STEP_TIMEOUT" -- "${MODSURG[@]}" doctor --json
"${MODSURG[@]}" doctor > "$STEPS_DIR/doctor.txt" 2>&1 || true

for entry in "${FIXTURES[@]}"; do
  read -r name model input output <<< "$entry"
  [[ -f $model ]] || { printf '%s\t%s\t%s\t%s\t%s\n' "run --ep cuda $name vs PyTorch" failed - 0 "missing-$name" >> "$STATUS_LOG"; continue; }
  step "run --ep cuda $name vs PyTorch" "run-cuda-$name" "$STEP_TIMEOUT" -- \
    "${MODSURG[@]}" run "$model" --ep cuda --input "input=$input" --compare "output=$output" --atol "$ATOL" --json
done

for entry in "${FIXTURES[@]}"; do
  read -r name model input output <<< "$entry"
  [[ -f $model ]] || continue
  step "verify --ep-compare cuda,cpu $name" "verify-$name" "$STEP_TIMEOUT" -- \
    "${MODSURG[@]}" verify "$model" --ep-compare cuda,cpu --input "input=$input" --atol "$ATOL" --json
done

models=$(for entry in "${FIXTURES[@]}"; do read -r _ model _ <<< "$entry"; [[ -f $model ]] && printf '%s,' "$model"; done)
step "latency cuda vs cpu" latency "$LATENCY_TIMEOUT" -- \
  node bench/run-latency.mjs --models "${models%,}" --eps cuda,cpu --batches "$(echo "$BATCHES" | tr ' ' ',')" \
    --repeat "$REPEAT" --warmup "$WARMUP" --timeout 60 --out "$STEPS_DIR"

# The summary: one Markdown page and one JSON document from the step outputs.
node --input-type=module - "$STEPS_DIR" "$RESULTS_MD" "$RESULTS_JSON" "$ATOL" <<'SUMMARY'
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, mdPath, jsonPath, atol] = process.argv.slice(2);
const read = (file) => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8') : '');
const parse = (file) => {
  try {
    return JSON.parse(read(file));
  } catch {
    return undefined;
  }
};
const num = (v) => (typeof v === 'number' ? (Math.abs(v) !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(2) : String(Number(v.toPrecision(4)))) : '-');
const errorLine = (stem) => read(`${stem}.err`).split('\n').find((l) => l.startsWith('error:')) ?? '';
const nodes = (list) => (list === null || list === undefined ? 'n/a' : list.length === 0 ? 'none' : list.map((n) => `${n.name} (${n.op})`).join(', '));

const steps = read('steps.tsv').split('\n').filter(Boolean).map((line) => {
  const [name, status, exit, seconds, stem] = line.split('\t');
  const report = parse(`${stem}.out`);
  let detail = errorLine(stem);
  if (name === 'doctor' && report) {
    detail = report.providers.map((p) => `${p.name}: ${p.works ? `works (${p.ranOn})` : `no: ${p.reason}`}`).join('; ');
  } else if (name.startsWith('run ') && report?.comparison) {
    const c = report.comparison.outputs[0] ?? {};
    detail = `ran on ${report.ep}; max abs err ${num(c.maxAbsErr)}, max rel err ${num(c.maxRelErr)}, cosine ${num(c.cosine)}, ${c.mismatches}/${c.count} outside atol ${atol}; nodes not on CUDA: ${nodes(report.cpuFallbackNodes)}`;
  } else if (name.startsWith('verify ') && report) {
    const c = report.comparison.outputs[0] ?? {};
    detail = `cuda vs cpu: max abs err ${num(c.maxAbsErr)}, max rel err ${num(c.maxRelErr)}, atol needed ${num(c.requiredAtol)}, ${c.mismatches}/${c.count} outside atol ${atol}; nodes by provider ${JSON.stringify(report.candidate.nodesByProvider)}; not on CUDA: ${nodes(report.candidate.cpuFallbackNodes)}`;
  } else if (name.startsWith('latency') && status !== 'skipped') {
    detail = status === 'ok' ? 'see the table below' : 'not every cell ran; see the table below';
  }
  if (status === 'skipped') detail = 'not run: the deadline was too near';
  return { name, status, exit, seconds: Number(seconds), detail, report: report ?? null };
});

const doctor = parse('doctor.out');
const device = doctor?.gpu?.devices?.length ? doctor.gpu.devices.map((d) => `${d.name} (driver ${d.driver}, ${d.memory})`).join('; ') : (doctor?.gpu?.note ?? 'unknown');
const escape = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const lines = [
  `# modsurg GPU check, ${new Date().toISOString()}`,
  '',
  `- device: ${device}`,
  `- node ${doctor?.node ?? '?'}, onnxruntime-node ${doctor?.onnxruntime?.version ?? '?'}`,
  `- LD_LIBRARY_PATH: ${doctor?.ldLibraryPath || '(empty)'}`,
  '',
  '| step | status | seconds | detail |',
  '| --- | --- | --- | --- |',
  ...steps.map((s) => `| ${escape(s.name)} | ${s.status}${s.exit !== '0' && s.exit !== '-' ? ` (exit ${s.exit})` : ''} | ${s.seconds} | ${escape(s.detail)} |`),
  '',
  read('latency.md').trim() || 'No latency table (the step did not run).',
  '',
];
writeFileSync(mdPath, lines.join('\n'));
writeFileSync(jsonPath, `${JSON.stringify({ date: new Date().toISOString(), device, atol: Number(atol), doctor: doctor ?? null, steps, latency: parse('latency.json') ?? null }, null, 2)}\n`);
SUMMARY

echo
cat "$RESULTS_MD"
echo "(written to $RESULTS_MD and $RESULTS_JSON; step outputs in $STEPS_DIR; ${SECONDS}s)"
if cut -f2 "$STATUS_LOG" | grep -qv '^ok$'; then exit 1; fi
exit 0
