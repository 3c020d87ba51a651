import { randomInt } from 'node:crypto';

/**
 * xoshiro128** (Blackman & Vigna), its 128-bit state filled by splitmix64 from the seed: the same
 * seed gives the same numbers on every machine, and nearby seeds give unrelated streams. It draws
 * replace-head's default initialisation and `run`'s random inputs.
 */
export class SeededRandom {
  private readonly s: Uint32Array;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, not ${seed}`);
    this.s = new Uint32Array(4);
    let state = BigInt(seed);
    for (let i = 0; i < 4; i += 2) {
      state = (state + 0x9e3779b97f4a7c15n) & MASK64;
      let z = state;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
      z ^= z >> 31n;
      this.s[i] = Number(z & 0xffffffffn);
      this.s[i + 1] = Number(z >> 32n);
    }
  }

  /**
   * The generator for one named stream of a seed (one model input): each name has its own stream, so
   * adding or reordering names does not change the numbers the others get. Any integer seed will do
   * (it is mixed into the name's hash modulo 2^32).
   */
  static forStream(seed: number, name: string): SeededRandom {
    return new SeededRandom(hashString(name, seed));
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2] = s[2]! ^ s[0]!;
    s[3] = s[3]! ^ s[1]!;
    s[1] = s[1]! ^ s[2]!;
    s[0] = s[0]! ^ s[3]!;
    s[2] = s[2]! ^ t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** A uniform float in [low, high), as torch's `uniform_(low, high)`. */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.nextFloat();
  }

  /** A uniform integer in [low, high) (whole-number bounds). */
  integer(low: number, high: number): number {
    return low + Math.floor(this.nextFloat() * (high - low));
  }
}

const MASK64 = (1n << 64n) - 1n;

/** FNV-1a over the UTF-16 code units, mixed with the seed: a 32-bit unsigned integer. */
function hashString(text: string, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A fresh seed for a run without `--seed`; reported so the run can be repeated. */
export function randomSeed(): number {
  return randomInt(0, 2 ** 32);
}
