import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * Temporary files: outputs being written and spools of stdin, each named with the writing process's id
 * (`.NAME.modsurg-PID-RANDOM.tmp` beside the target, `modsurg-spool-PID-*` in the system's temporary
 * folder).
 *
 * Nothing of them may outlive the process: whatever stops it — Ctrl-C or SIGTERM in the middle of a
 * synchronous multi-gigabyte write, SIGKILL, the OOM killer — a guardian removes them. The guardian is a
 * `sh` started beside the process on its first temporary in a folder, ignoring the signals a terminal
 * sends to the whole group, waiting for the end of a pipe only this process writes to; when the process
 * is gone the pipe ends and the guardian removes what the process left under its id. So modsurg keeps
 * the default dispositions of SIGINT and SIGTERM: it stops the moment one arrives (its shell sees 130 or
 * 143), however busy it is, and leaves nothing. Where no guardian can run (no `sh`), stale temporaries are
 * recognised by the dead process's id: the next write of the same target, or `modsurg clean`, removes them.
 */
let spoolFolder: string | undefined;
let spools = 0;
const guarded = new Set<string>();

export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function removeSpools(): void {
  if (spoolFolder !== undefined) rmSync(spoolFolder, { recursive: true, force: true });
  spoolFolder = undefined;
}

/** The guardian's script: $1 the process id, $2 the folder, $3 `output` or `spool`. */
const GUARDIAN = `trap '' INT TERM HUP QUIT
cat >/dev/null
if [ "$3" = spool ]; then rm -rf -- "$2"/modsurg-spool-"$1"-*; else rm -f -- "$2"/.*.modsurg-"$1"-*.tmp; fi`;

/** Starts the guardian of `folder`'s temporaries of this process, once per folder and kind. */
function guard(folder: string, kind: 'output' | 'spool'): void {
  const key = `${kind}:${folder}`;
  if (guarded.has(key)) return;
  guarded.add(key);
  try {
    const child = spawn('sh', ['-c', GUARDIAN, 'modsurg-guardian', String(process.pid), folder, kind], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', () => undefined);
    // neither the guardian nor its pipe keeps this process alive: the pipe ends when the process does
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    child.stdin?.on('error', () => undefined);
  } catch {
    // no guardian: stale temporaries are removed by the next write or `modsurg clean`
  }
}

/** Marks an output's temporary file: its guardian removes it if the process stops before it is renamed. */
export function pendingOutput(path: string): void {
  guard(dirname(path), 'output');
}

/** A fresh path for a spool, in a private folder removed at exit (or by its guardian, however the process ends). */
export function spoolFile(): string {
  if (spoolFolder === undefined) {
    guard(tmpdir(), 'spool');
    spoolFolder = mkdtempSync(join(tmpdir(), `modsurg-spool-${process.pid}-`));
    process.once('exit', removeSpools);
  }
  return join(spoolFolder, `spool-${spools++}`);
}

/** `.NAME.modsurg-PID-RANDOM.tmp`, beside the target: a temporary file for writing `target`. */
export function temporaryPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.modsurg-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

const TEMPORARY = /^\.(.+)\.modsurg-(\d+)-[0-9a-f]{8}\.tmp$/;
const SPOOL = /^modsurg-spool-(\d+)-\w+$/;

/** Whether a process of this id still runs (one we may not signal runs too). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The temporaries in `folder` whose writing process is gone (of `target` only, when given), and, for
 * the system's temporary folder, stale stdin spools: what a killed modsurg left behind.
 */
export function staleTemporaries(folder: string, target?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return [];
  }
  return names
    .filter((name) => {
      const temporary = TEMPORARY.exec(name);
      if (temporary) return (target === undefined || temporary[1] === basename(target)) && Number(temporary[2]) !== process.pid && !alive(Number(temporary[2]));
      const spool = target === undefined ? SPOOL.exec(name) : null;
      return spool !== null && Number(spool[1]) !== process.pid && !alive(Number(spool[1]));
    })
    .map((name) => join(folder, name));
}

/** Removes stale temporaries (files and spool folders); what was removed. */
export function removeStale(paths: readonly string[]): string[] {
  const removed: string[] = [];
  for (const path of paths) {
    try {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // another process got there first, or it is not ours to remove
    }
  }
  return removed;
}
