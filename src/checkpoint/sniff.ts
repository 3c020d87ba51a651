import { looksLikeOnnx } from '../graph/sniff-onnx.js';
import type { ByteSource } from '../io/byte-source.js';

/** What the first bytes of a file say it is. */
export type Sniffed =
  | { readonly kind: 'zip' }
  | { readonly kind: 'torch-legacy' }
  | { readonly kind: 'safetensors' }
  | { readonly kind: 'onnx' }
  | { readonly kind: 'unknown'; readonly looksLike: string };

/** The legacy format opens with a pickled magic number: PROTO 2, LONG1 of 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = Buffer.from('80028a0a6cfc9c46f9206aa850192e', 'hex');

export function sniff(source: ByteSource): Sniffed {
  const head = source.read(0, Math.min(source.size, 512));
  if (head.length === 0) return { kind: 'unknown', looksLike: 'an empty file' };
  if (head.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) return { kind: 'zip' };
  if (head.subarray(0, LEGACY_MAGIC.length).equals(LEGACY_MAGIC)) return { kind: 'torch-legacy' };
  if (head.length >= 9) {
    const headerLength = head.readBigUInt64LE(0);
    if (head[8] === 0x7b && headerLength > 1n && headerLength < 100_000_000n && 8n + headerLength <= BigInt(source.size)) {
      return { kind: 'safetensors' };
    }
  }
  const text = head.toString('latin1');
  if (text.startsWith('version https://git-lfs')) return { kind: 'unknown', looksLike: 'a git-lfs pointer file; run `git lfs pull` to fetch the real file' };
  if (/^\s*<(!doctype html|html|\?xml|head|body)/i.test(text)) return { kind: 'unknown', looksLike: 'an HTML page, not the file itself (a download that saved an error or login page?)' };
  if (head.length > 262 && head.subarray(257, 262).toString('latin1') === 'ustar') {
    return { kind: 'unknown', looksLike: 'a tar archive (torch 0.1-era checkpoints are not supported; load and re-save it with a current torch)' };
  }
  if (head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) return { kind: 'unknown', looksLike: 'a plain Python pickle, not a torch checkpoint' };
  if (looksLikeOnnx(head, source.size)) return { kind: 'onnx' };
  if (/^[\x09\x0a\x0d\x20-\x7e]*$/.test(text.slice(0, 64))) return { kind: 'unknown', looksLike: 'a text file' };
  return { kind: 'unknown', looksLike: 'an unknown binary file' };
}

