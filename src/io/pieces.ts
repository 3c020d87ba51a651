import { FileSource, readRange, type ByteRange, type ByteSource } from './byte-source.js';
import type { ByteSink } from './byte-sink.js';

/**
 * Bytes to be written, in order: in memory, or a range of an input copied when written (an ONNX
 * model's weights stay in the file they came from until then).
 */
export type Piece = Uint8Array | ByteRange;

export function isRange(piece: Piece): piece is ByteRange {
  return !(piece instanceof Uint8Array);
}

export function pieceLength(piece: Piece): number {
  return isRange(piece) ? piece.length : piece.byteLength;
}

export function piecesLength(pieces: readonly Piece[]): number {
  let total = 0;
  for (const piece of pieces) total += pieceLength(piece);
  return total;
}

/**
 * Writes pieces in order. Small in-memory pieces (an ONNX graph is thousands of them) are gathered and
 * written together, so a model costs a few writes, not one system call per node.
 */
export function writePieces(sink: ByteSink, pieces: readonly Piece[], onProgress?: (bytes: number) => void): void {
  let gathered: Uint8Array[] = [];
  let gatheredLength = 0;
  const flush = (): void => {
    if (gathered.length === 0) return;
    sink.write(gathered.length === 1 ? gathered[0]! : Buffer.concat(gathered, gatheredLength));
    gathered = [];
    gatheredLength = 0;
  };
  for (const piece of pieces) {
    if (!isRange(piece) && piece.byteLength < GATHER) {
      gathered.push(piece);
      if ((gatheredLength += piece.byteLength) >= GATHER) flush();
      continue;
    }
    flush();
    if (isRange(piece)) {
      sink.copy(piece);
      onProgress?.(sink.position);
    } else sink.write(piece);
  }
  flush();
}

const GATHER = 1 << 20;

/** The pieces as one buffer, ranges read (one piece in memory is a view of it): only for what is small. */
export function materialize(pieces: readonly Piece[]): Buffer {
  const only = pieces.length === 1 ? pieces[0]! : undefined;
  if (only instanceof Uint8Array) return Buffer.from(only.buffer, only.byteOffset, only.byteLength);
  return Buffer.concat(pieces.map((piece) => (isRange(piece) ? readRange(piece) : piece)));
}

/** Bytes of ranges of `source` that land at the offset they have there once the pieces are written from 0. */
export function bytesInPlace(pieces: readonly Piece[], source: ByteSource): number {
  let at = 0;
  let total = 0;
  for (const piece of pieces) {
    if (isRange(piece) && piece.source === source && piece.offset === at) total += piece.length;
    at += pieceLength(piece);
  }
  return total;
}

/**
 * The input file a copy of which already holds at least half of what the pieces copy from inputs, in
 * place (`OutputOptions.copyOf`): an ONNX edit that leaves the weights where they were costs a `cp`.
 */
export function inputHoldingMost(pieces: readonly Piece[]): FileSource | undefined {
  const sources = new Set<FileSource>();
  let copied = 0;
  for (const piece of pieces) {
    if (!isRange(piece)) continue;
    copied += piece.length;
    if (piece.source instanceof FileSource) sources.add(piece.source);
  }
  const size = piecesLength(pieces);
  return [...sources].find((source) => bytesInPlace(pieces, source) * 2 >= copied && copied > 0 && source.size <= size * 2);
}
