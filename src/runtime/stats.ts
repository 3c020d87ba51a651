/** Summary statistics of an output, for the run report. Pure functions over doubles. */

export interface TensorStats {
  readonly count: number;
  /** Over finite values; null when there are none. */
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  readonly std: number | null;
  readonly nanCount: number;
  readonly infCount: number;
  /** The first few values, in C order. */
  readonly first: readonly number[];
  /** For 2-D outputs (scores: batch × classes): the argmax of each of the first rows. */
  readonly argmax?: readonly number[];
}

export function tensorStats(values: ArrayLike<number>, shape: readonly number[], firstCount = 6, argmaxRows = 8): TensorStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let finite = 0;
  let nanCount = 0;
  let infCount = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) nanCount++;
    else if (!Number.isFinite(v)) infCount++;
    else {
      finite++;
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  const mean = finite > 0 ? sum / finite : null;
  let squares = 0;
  if (mean !== null) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (Number.isFinite(v)) squares += (v - mean) ** 2;
    }
  }
  const first = Array.from({ length: Math.min(firstCount, values.length) }, (_, i) => values[i]!);
  const stats: TensorStats = {
    count: values.length,
    min: finite > 0 ? min : null,
    max: finite > 0 ? max : null,
    mean,
    std: mean !== null ? Math.sqrt(squares / finite) : null,
    nanCount,
    infCount,
    first,
  };
  return shape.length === 2 && shape[1]! > 0 ? { ...stats, argmax: rowArgmax(values, shape[0]!, shape[1]!, argmaxRows) } : stats;
}

/** The index of the largest value of each row (the first on ties; NaN never wins). */
export function rowArgmax(values: ArrayLike<number>, rows: number, columns: number, limit = rows): number[] {
  const out: number[] = [];
  for (let r = 0; r < Math.min(rows, limit); r++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let c = 0; c < columns; c++) {
      const v = values[r * columns + c]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out.push(best);
  }
  return out;
}

/** Percentile by linear interpolation between closest ranks (NumPy's default). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

export interface LatencySummary {
  readonly runs: number;
  readonly p50: number;
  readonly p90: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
}

export function latencySummary(latencies: readonly number[]): LatencySummary | undefined {
  if (latencies.length === 0) return undefined;
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    runs: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
  };
}
