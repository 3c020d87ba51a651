import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BufferSource, chunksOf, FileSource, readRange } from '../../src/io/byte-source.js';
import { CopyOfInputSink, HoldBackSink, MemorySink } from '../../src/io/byte-sink.js';
import { PipeSource } from '../../src/io/pipe-source.js';
import { AlignedZipLayout, ZipReader, type ZipMemberSpec } from '../../src/io/zip.js';
import { ZipStreamReader } from '../../src/io/zip-stream.js';
import { scratchDir } from '../helpers/cli.js';

const dir = scratchDir();
let files = 0;

/** A PipeSource over a file's bytes: read front to back through a descriptor, as a pipe is. */
function pipeOf(bytes: Uint8Array, capacity?: number): { pipe: PipeSource; close: () => void } {
  const path = join(dir, `stream-${files++}`);
  writeFileSync(path, bytes);
  const fd = openSync(path, 'r');
  return { pipe: new PipeSource('-', fd, capacity), close: () => closeSync(fd) };
}

function zipBytes(members: ZipMemberSpec[]): Buffer {
  const sink = new MemorySink();
  new AlignedZipLayout(members).write(sink);
  return sink.toBuffer();
}

const bytesArb = fc.uint8Array({ maxLength: 5000 });

describe('PipeSource', () => {
  it('peeks, takes, skips and reads into buffers in any mix, as the bytes arrived', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('peek' as const), n: fc.nat(300) }),
      fc.record({ kind: fc.constant('take' as const), n: fc.nat(300) }),
      fc.record({ kind: fc.constant('skip' as const), n: fc.nat(300) }),
      fc.record({ kind: fc.constant('into' as const), n: fc.nat(3000) }),
    );
    fc.assert(
      fc.property(bytesArb, fc.array(op, { maxLength: 30 }), fc.integer({ min: 16, max: 700 }), (bytes, ops, capacity) => {
        const { pipe, close } = pipeOf(bytes, capacity);
        try {
          let at = 0;
          for (const { kind, n } of ops) {
            const left = bytes.length - at;
            if (kind === 'peek') {
              expect(Uint8Array.from(pipe.peek(n))).toEqual(bytes.subarray(at, at + n));
              continue;
            }
            if (n > left) {
              expect(() => (kind === 'take' ? pipe.take(n) : kind === 'skip' ? pipe.skip(n) : pipe.readInto(Buffer.alloc(n)))).toThrow(/truncated/);
              return;
            }
            if (kind === 'take') expect(Uint8Array.from(pipe.take(n))).toEqual(bytes.subarray(at, at + n));
            else if (kind === 'skip') pipe.skip(n);
            else {
              const target = Buffer.alloc(n);
              pipe.readInto(target);
              expect(Uint8Array.from(target)).toEqual(bytes.subarray(at, at + n));
            }
            at += n;
            expect(pipe.position).toBe(at);
          }
          expect(pipe.atEnd()).toBe(at === bytes.length);
        } finally {
          close();
        }
      }),
    );
  });

  it('spools what is left to a file', () => {
    const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const { pipe, close } = pipeOf(bytes, 64);
    pipe.take(1234);
    const file = pipe.toFile();
    expect(readFileSync(file.path)).toEqual(bytes.subarray(1234));
    file.close();
    close();
  });
});

describe('HoldBackSink', () => {
  it('passes on every byte but the last 64 KiB until committed', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 150_000 }), { maxLength: 8 }), (sizes) => {
        const inner = new MemorySink();
        const sink = new HoldBackSink(inner);
        const all: Buffer[] = [];
        sizes.forEach((size, i) => {
          const bytes = Buffer.alloc(size, i + 1);
          all.push(bytes);
          sink.write(bytes);
        });
        const total = Buffer.concat(all);
        expect(sink.position).toBe(total.length);
        expect(inner.toBuffer().equals(total.subarray(0, Math.max(0, total.length - HoldBackSink.HELD)))).toBe(true);
        sink.commit();
        expect(inner.toBuffer().equals(total)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});

describe('zip layout', () => {
  it('puts a member copied from an input where it was there, when the padding can reach', () => {
    const input = new BufferSource('in', Buffer.alloc(100_000, 9));
    const range = { source: input, offset: 4096, length: 1000 };
    const layout = new AlignedZipLayout([
      { name: 'a/data.pkl', data: { kind: 'bytes', bytes: Buffer.alloc(100) } },
      { name: 'a/data/0', data: { kind: 'range', range }, dataAt: 4096 },
    ]);
    expect(layout.members[1]!.dataOffset).toBe(4096);
    expect(layout.bytesInPlace(input)).toBe(1000);
    // unreachable (before the member could start, or past what an extra field can pad): ordinary placement
    const early = new AlignedZipLayout([{ name: 'a/data/0', data: { kind: 'range', range }, dataAt: 0 }]);
    expect(early.members[0]!.dataOffset).toBe(64);
    const far = new AlignedZipLayout([{ name: 'a/data/0', data: { kind: 'range', range: { ...range, offset: 70_016 } }, dataAt: 70_016 }]);
    expect(far.members[0]!.dataOffset).toBe(64);
    const bytes = zipBytes(layout.members.map((m) => m.spec));
    expect(bytes.length).toBe(layout.size);
    const reader = new ZipReader(new BufferSource('t.zip', bytes));
    expect(reader.get('a/data/0')!.data().offset).toBe(4096);
    reader.verifyCrcs();
  });

  it('writes into a copy of its input only what is not already in place', () => {
    const original = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7) % 256));
    writeFileSync(join(dir, 'input'), original);
    const path = join(dir, 'copy-of-input');
    writeFileSync(path, original);
    const input = new FileSource('in', join(dir, 'input'));
    const fd = openSync(path, 'r+');
    const sink = new CopyOfInputSink(fd, input);
    sink.write(Buffer.from('head'));
    sink.copy({ source: input, offset: 4, length: 10_000 });
    sink.copy({ source: input, offset: 0, length: 4 });
    sink.finish();
    closeSync(fd);
    expect(sink.skipped).toBe(10_000);
    expect(readFileSync(path)).toEqual(Buffer.concat([Buffer.from('head'), original.subarray(4, 10_004), original.subarray(0, 4)]));
    input.close();
  });
});

describe('zip stream reader', () => {
  const membersArb = fc.uniqueArray(fc.tuple(fc.stringMatching(/^a\/[a-z0-9_./]{1,12}$/), bytesArb), { maxLength: 10, selector: ([name]) => name });

  it('reads every member front to back, finding deferred sizes through their descriptors, and then the central directory', () => {
    fc.assert(
      fc.property(membersArb, fc.integer({ min: 64, max: 4096 }), (members, capacity) => {
        const bytes = zipBytes(members.map(([name, data]) => ({ name, data: { kind: 'bytes', bytes: data } })));
        const { pipe, close } = pipeOf(bytes, capacity);
        try {
          const zip = new ZipStreamReader(pipe);
          const offsets: number[] = [];
          for (const [name, data] of members) {
            const record = zip.nextRecord()!;
            expect(record.name).toBe(name);
            expect(record.deferred).toBe(data.length > 0);
            offsets.push(record.headerOffset);
            expect(Uint8Array.from(zip.readWhole(record, Infinity))).toEqual(data);
          }
          expect(zip.nextRecord()).toBeUndefined();
          const central = zip.centralDirectory();
          expect(central.map((c) => [c.name, c.headerOffset])).toEqual(members.map(([name], i) => [name, offsets[i]]));
        } finally {
          close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('a descriptor signature inside the data does not end a member early', () => {
    const tricky = Buffer.concat([Buffer.from('abcPK\x07\x08', 'latin1'), Buffer.alloc(12, 0), Buffer.from('PK\x07\x08\x01\x02\x03\x04\x05\x00\x00\x00\x05\x00\x00\x00', 'latin1'), Buffer.alloc(40, 1)]);
    const bytes = zipBytes([{ name: 'a/x', data: { kind: 'bytes', bytes: tricky } }]);
    const { pipe, close } = pipeOf(bytes, 64);
    const zip = new ZipStreamReader(pipe);
    expect(zip.readWhole(zip.nextRecord()!, Infinity)).toEqual(tricky);
    close();
  });

  it('streams a member of known size in pieces, and says when the stream is cut short', () => {
    const data = Buffer.alloc(300_000, 5);
    const bytes = zipBytes([{ name: 'a/data/0', data: { kind: 'bytes', bytes: data } }]);
    const { pipe, close } = pipeOf(bytes, 4096);
    const zip = new ZipStreamReader(pipe);
    const record = zip.nextRecord()!;
    let crc: number | undefined;
    // each piece is a view of the pipe's buffer, valid until the next is taken
    const pieces = Array.from(zip.pieces(record, data.length, (c) => (crc = c)), (piece) => Buffer.from(piece));
    expect(pieces.length).toBeGreaterThan(1);
    expect(Buffer.concat(pieces).equals(data)).toBe(true);
    const reader = new ZipReader(new BufferSource('t', bytes));
    expect(crc).toBe(reader.get('a/data/0')!.crc);
    close();
    const cut = pipeOf(bytes.subarray(0, 200_000));
    const cutZip = new ZipStreamReader(cut.pipe);
    expect(() => [...cutZip.pieces(cutZip.nextRecord()!, data.length, () => {})]).toThrow(/truncated/);
    cut.close();
  });
});

describe('ranges with a CRC', () => {
  it('are checked whenever read whole, in one piece or many', () => {
    const bytes = Buffer.from('hello torch, hello world');
    const good = zipBytes([{ name: 'a/data/0', data: { kind: 'bytes', bytes } }]);
    const bad = Buffer.from(good);
    bad[bad.indexOf('torch')] = 0x54;
    for (const [zip, ok] of [[good, true], [bad, false]] as const) {
      const range = new ZipReader(new BufferSource('t', zip)).get('a/data/0')!.data();
      const whole = () => readRange(range);
      const pieces = () => [...chunksOf(range, 5)];
      if (ok) {
        expect(whole()).toEqual(bytes);
        expect(Buffer.concat(pieces().map((p) => Buffer.from(p)))).toEqual(bytes);
      } else {
        expect(whole).toThrow(/a\/data\/0 is corrupt \(CRC-32 mismatch\)/);
        expect(pieces).toThrow(/CRC-32 mismatch/);
      }
    }
  });
});
