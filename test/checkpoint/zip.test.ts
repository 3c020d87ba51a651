import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BufferSource, readRange } from '../../src/io/byte-source.js';
import { MemorySink } from '../../src/io/byte-sink.js';
import { AlignedZipLayout, ZipReader } from '../../src/io/zip.js';

function writeZip(entries: [string, Uint8Array][]): Buffer {
  const sink = new MemorySink();
  new AlignedZipLayout(entries.map(([name, bytes]) => ({ name, data: { kind: 'bytes', bytes } }))).write(sink);
  return sink.toBuffer();
}

const entriesArb = fc.uniqueArray(fc.tuple(fc.stringMatching(/^archive\/[a-z0-9_./]{1,20}$/), fc.uint8Array({ maxLength: 300 })), {
  maxLength: 12,
  selector: ([name]) => name,
});

describe('zip writer and reader', () => {
  it('round-trips members, their bytes and CRCs', () => {
    fc.assert(
      fc.property(entriesArb, (entries) => {
        const reader = new ZipReader(new BufferSource('t.zip', writeZip(entries)));
        expect(reader.entries.map((e) => e.name)).toEqual(entries.map(([n]) => n));
        for (const [name, bytes] of entries) expect(Uint8Array.from(readRange(reader.get(name)!.data()))).toEqual(bytes);
        reader.verifyCrcs();
      }),
    );
  });

  it('aligns every member to 64 bytes, as torch does for mmap', () => {
    fc.assert(
      fc.property(entriesArb, (entries) => {
        const reader = new ZipReader(new BufferSource('t.zip', writeZip(entries)));
        for (const entry of reader.entries) expect(entry.data().offset % 64).toBe(0);
      }),
    );
  });

  it('detects corrupt data through the CRC', () => {
    const bytes = writeZip([['archive/data/0', Buffer.from('hello world, hello torch')]]);
    const at = bytes.indexOf('hello torch');
    bytes[at] = 0x48;
    expect(() => new ZipReader(new BufferSource('t.zip', bytes)).verifyCrcs()).toThrow(/CRC-32 mismatch/);
  });

  it('refuses two members of one name (readers disagree on which counts)', () => {
    const bytes = writeZip([
      ['archive/data.pkl', Buffer.from('one')],
      ['archive/data.pkl', Buffer.from('two')],
    ]);
    expect(() => new ZipReader(new BufferSource('t.zip', bytes))).toThrow(/two members named archive\/data.pkl/);
  });

  it('says a cut-off archive is truncated', () => {
    const bytes = writeZip([['archive/data/0', Buffer.alloc(1000, 7)]]);
    expect(() => new ZipReader(new BufferSource('t.zip', bytes.subarray(0, 600)))).toThrow(/truncated/);
  });
});
