import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modsurg, scratchDir } from '../helpers/cli.js';
import { ORACLE_PYTHON, ORACLE_SKIP, python } from '../helpers/oracle.js';

/**
 * Hand-made torch zips that are wrong in ways torch.save never writes, judged by torch itself: a view
 * reaching past its storage (torch refuses it; modsurg must too, not copy another record's bytes into the
 * tensor), and a 500,000-item APPENDS (torch loads it; modsurg must not overflow its stack).
 */
const dir = scratchDir();

/** Writes a torch zip whose data.pkl is {'w': tensor(storage '0' of 4 floats, offset, size, stride), 'extra': EXTRA}. */
const MAKE = `import struct, sys, zipfile
path, offset, size, stride, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def i(n):
    return b"J" + struct.pack("<i", n)
tensor = (b"ctorch._utils\\n_rebuild_tensor_v2\\n((X\\x07\\x00\\x00\\x00storagectorch\\nFloatStorage\\nX\\x01\\x00\\x00\\x000X\\x03\\x00\\x00\\x00cpu" + i(4) + b"tQ"
          + i(offset) + i(size) + b"\\x85" + i(stride) + b"\\x85\\x89ccollections\\nOrderedDict\\n)RtR")
d = 100000
extras = {
    "none": b"N",
    "appends": b"](" + b"K\\x01" * 500000 + b"e",
    "list": b"]" * d + b"a" * (d - 1),
    "tuple": b")" + b"\\x85" * (d - 1),
    "dict": b"}X\\x01\\x00\\x00\\x00k" * (d - 1) + b"}" + b"s" * (d - 1),
    "selfref": b"]q\\x00h\\x00a",
    # 60 lists, each holding the previous one twice: 2**60 paths through a memo of 61 values
    "dag": b"]r" + struct.pack("<I", 1000) + b"0" + b"".join(b"(j" + struct.pack("<I", 999 + i) + b"j" + struct.pack("<I", 999 + i) + b"lr" + struct.pack("<I", 1000 + i) + b"0" for i in range(1, 61)) + b"j" + struct.pack("<I", 1060),
    "listkey": b"}](K\\x01K\\x02lK\\x03s",
    # posix.system("touch PATH.ran"): what --drop-unsafe must leave out, and no command may run
    "evil": b"cposix\\nsystem\\n(X" + struct.pack("<I", len(path) + 10) + b"touch " + path.encode() + b".ran" + b"tR",
}
pkl = b"\\x80\\x02}(X\\x01\\x00\\x00\\x00w" + tensor + (b"" if extra == "omit" else b"X\\x05\\x00\\x00\\x00extra" + extras[extra]) + b"u."
with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", pkl)
    z.writestr("archive/byteorder", b"little")
    z.writestr("archive/data/0", struct.pack("<4f", 1, 2, 3, 4))
    z.writestr("archive/data/1", struct.pack("<4f", 7, 7, 7, 7))
    z.writestr("archive/version", b"3\\n")
`;

function make(name: string, offset: number, size: number, stride: number, extra: 'none' | 'omit' | 'appends' | 'list' | 'tuple' | 'dict' | 'selfref' | 'dag' | 'listkey' | 'evil'): string {
  const path = join(dir, name);
  const made = python(MAKE, [path, String(offset), String(size), String(stride), extra]);
  expect(made.status, made.stderr).toBe(0);
  return path;
}

const torchLoads = (path: string): string =>
  python(
    `import sys, torch
try:
    sd = torch.load(sys.argv[1], weights_only=True)
    print("loads", sd["w"].tolist(), type(sd["extra"]).__name__, len(sd["extra"]) if sd["extra"] is not None else 0)
except Exception as e:
    print("refuses")`,
    [path],
  ).stdout.trim();

describe.skipIf(!ORACLE_PYTHON)(`files torch.save never writes${ORACLE_SKIP}`, () => {
  it("a view past the end of its storage: torch refuses it, and so does every command (never another record's bytes)", () => {
    const past = make('past.pth', 2, 4, 1, 'none');
    expect(torchLoads(past)).toBe('refuses');
    for (const args of [['convert', past, '-o', join(dir, 'past.safetensors')], ['strip-prefix', past, '-o', join(dir, 'past_out.pth')], ['inspect', past]]) {
      const run = modsurg(args);
      expect(run.status, args[0]).toBe(2);
      expect(run.stderr).toMatch(/past\.pth: tensor of shape \[4\] on storage 0: the view \(offset 2, strides \[1\]\) reaches element 5, past the storage's 4\n$/);
    }
    expect(existsSync(join(dir, 'past.safetensors'))).toBe(false);
    // an expanded view (stride 0) of the last element is legal, for torch and for modsurg
    const expanded = make('expanded.pth', 3, 4, 0, 'none');
    expect(torchLoads(expanded)).toBe('loads [4.0, 4.0, 4.0, 4.0] NoneType 0');
    expect(modsurg(['inspect', expanded]).status).toBe(0);
  });

  it('a 2^26-element expanded view in a file of a few hundred bytes becomes safetensors a chunk at a time, every element right', () => {
    const expanded = make('expanded_big.pth', 3, 2 ** 26, 0, 'omit');
    const out = join(dir, 'expanded_big.safetensors');
    const run = modsurg(['convert', expanded, '-o', out, '-q']);
    expect(run.status, run.stderr).toBe(0);
    const judged = python(
      `import sys
from safetensors.torch import load_file
x = load_file(sys.argv[1])["w"]
print(list(x.shape), bool((x == 4.0).all()))`,
      [out],
    );
    expect(judged.stdout.trim(), judged.stderr).toBe('[67108864] True');
  });

  it('a 500,000-item APPENDS, which torch loads, is read and scanned', () => {
    const many = make('appends.pth', 0, 4, 1, 'appends');
    expect(torchLoads(many)).toBe('loads [1.0, 2.0, 3.0, 4.0] list 500000');
    expect(modsurg(['scan', many]).status).toBe(0);
    expect(modsurg(['inspect', many, '-q']).status).toBe(0);
  });

  it.each(['list', 'dict', 'selfref'] as const)('a 100,000-deep %s (or a list holding itself), which torch loads, is read and scanned (inspect), diffed and written back', (kind) => {
    const deep = make(`deep_${kind}.pth`, 0, 4, 1, kind);
    const depth = `import sys, torch
x = torch.load(sys.argv[1], weights_only=True)["extra"]
d = 0
while isinstance(x, (list, tuple, dict)) and len(x) > 0 and d < 300000:
    x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    d += 1
print(d)`;
    const expected = kind === 'selfref' ? '300000' : '99999';
    // that torch loads such a file is shown once; what matters for each kind is that it loads modsurg's output
    if (kind === 'list') expect(python(depth, [deep]).stdout.trim()).toBe(expected);
    expect(modsurg(['inspect', deep, '-q']).status).toBe(0);
    expect(modsurg(['diff', deep, deep, '-q']).status).toBe(0);
    const out = join(dir, `deep_${kind}_out.pth`);
    const written = modsurg(['convert', deep, '-o', out, '-q']);
    expect(written.status, written.stderr).toBe(0);
    expect(python(depth, [out]).stdout.trim()).toBe(expected);
  });

  it('a memo DAG (2**60 paths through 61 lists) costs its size, and is written back shared', () => {
    const dag = make('dag.pth', 0, 4, 1, 'dag');
    const out = join(dir, 'dag_out.pth');
    for (const args of [['inspect', dag, '-q'], ['scan', dag, '-q'], ['diff', dag, dag, '-q'], ['convert', dag, '-o', out, '-q']]) {
      const run = modsurg(args);
      expect(run.status, `${args[0]}: ${run.stderr}`).toBe(0);
    }
    const shared = python(
      `import sys, torch
x, d = torch.load(sys.argv[1], weights_only=True)["extra"], 0
while isinstance(x, list) and x:
    assert x[0] is x[1]
    x, d = x[0], d + 1
print(d)`,
      [out],
    );
    expect(shared.stdout.trim(), shared.stderr).toBe('60');
  });

  it('a call of posix.system beside the weights: every writer refuses to copy it; --drop-unsafe leaves it out, says so, and keeps the weights', () => {
    const evil = make('evil.pth', 0, 4, 1, 'evil');
    const out = join(dir, 'evil_out.pth');
    const refused = modsurg(['convert', evil, '-o', out]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/evil\.pth: cannot write posix\.system at extra: torch\.load\(weights_only=True\) refuses it \(--drop-unsafe leaves it out; --key writes only a state dict\)\n$/);
    expect(existsSync(out)).toBe(false);
    expect(modsurg(['strip-prefix', evil, '-o', out, '--drop-unsafe']).stderr).toMatch(/^warning: \S+evil\.pth: left out 1 value torch\.load\(weights_only=True\) would refuse: posix\.system at extra\n/);
    for (const [command, output] of [['strip-prefix', out], ['convert', join(dir, 'evil_out.safetensors')]] as const) {
      const dropped = modsurg([command, evil, '-o', output, '--drop-unsafe', '--json']);
      expect(dropped.status, dropped.stderr).toBe(0);
      // with --json the warning is in the report, not on stderr
      expect(dropped.stderr).toBe('');
      const report = JSON.parse(dropped.stdout) as { warnings: string[]; dropped: unknown[] };
      expect(report.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/\S+evil\.pth: left out 1 value torch\.load\(weights_only=True\) would refuse: posix\.system at extra$/)]));
      expect(report.dropped).toEqual([{ path: 'extra', global: 'posix.system' }]);
    }
    const loaded = python('import sys, torch\nsd = torch.load(sys.argv[1], weights_only=True)\nprint(sorted(sd), sd["w"].tolist())', [out]);
    expect(loaded.stdout.trim(), loaded.stderr).toBe("['w'] [1.0, 2.0, 3.0, 4.0]");
    expect(existsSync(`${evil}.ran`)).toBe(false);
  });

  it('a list as a dict key, which Python cannot hash, is refused as torch refuses it', () => {
    const bad = make('listkey.pth', 0, 4, 1, 'listkey');
    expect(torchLoads(bad)).toBe('refuses');
    const run = modsurg(['convert', bad, '-o', join(dir, 'listkey_out.pth')]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/listkey\.pth: malformed pickle at byte \d+: a list as a dict key \(unhashable in Python\)\n$/);
  });
});

describe.skipIf(!ORACLE_PYTHON)(`a zip whose central directory names one record 20,000 times${ORACLE_SKIP}`, () => {
  it('is refused by every reader at once and scanned once, not read 20,000 times', () => {
    const path = join(dir, 'aliases.pth');
    const made = python(
      `import struct, sys, torch
torch.save({"w": torch.zeros(2 * 1024 * 1024)}, sys.argv[1])
data = open(sys.argv[1], "rb").read()
eocd = data.rindex(b"PK\\x05\\x06")
cd_size, cd_offset = struct.unpack("<IHHHHIIH", data[eocd:eocd + 22])[5:7]
cd = data[cd_offset:cd_offset + cd_size]
at, records = 0, []
while at < len(cd):
    n, e, c = struct.unpack("<HHH", cd[at + 28:at + 34])
    records.append(cd[at:at + 46 + n + e + c])
    at += 46 + n + e + c
storage = next(r for r in records if r[46:46 + struct.unpack("<H", r[28:30])[0]].endswith(b"/data/0"))
n = struct.unpack("<H", storage[28:30])[0]
aliases = []
for i in range(20000):
    name = b"aliases/alias/%d" % i
    aliases.append(storage[:28] + struct.pack("<H", len(name)) + storage[30:46] + name + storage[46 + n:])
cd = b"".join(records + aliases)
end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(records) + 20000, len(records) + 20000, len(cd), cd_offset, 0)
open(sys.argv[1], "wb").write(data[:cd_offset] + cd + end)
print(torch.load(sys.argv[1], weights_only=True)["w"].shape[0])`,
      [path],
    );
    expect(made.stdout.trim(), made.stderr).toBe('2097152');
    for (const args of [['inspect', path], ['convert', path, '-o', join(dir, 'aliases.safetensors')]]) {
      const run = modsurg(args);
      expect(run.status, args[0]).toBe(2);
      expect(run.stderr).toMatch(/^error: .*aliases\.pth: corrupt zip: members aliases\/data\/0 and aliases\/alias\/0 share bytes\n$/);
    }
    const scanned = modsurg(['scan', path, '--json']);
    expect(scanned.status, scanned.stderr).toBe(0);
    expect(JSON.parse(scanned.stdout).files[0].suspicious).toContain('20000 members share bytes with another member: no zip writer makes such a file');
  });
});
