import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * Temporary files: outputs being written (removed if the process is interrupted before they are
 * complete) and spools of stdin (removed at exit). Ctrl-C never leaves either behind; a process killed
 * outright (SIGKILL, a crash) does, so each is named with the writing process's id: one whose process is
 * gone is stale, and the next write of the same target, or `modsurg clean`, removes it.
 */
const pendingOutputs = new Set<string>();
let spoolFolder: string | undefined;
let spools = 0;
let handlersInstalled = false;

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

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', removeSpools);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const path of pendingOutputs) removeQuietly(path);
      removeSpools();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Marks an output's temporary file: removed on interruption until `settled`. */
export function pendingOutput(path: string): { settled(): void } {
  installHandlers();
  pendingOutputs.add(path);
  return { settled: () => void pendingOutputs.delete(path) };
}

/** A fresh path for a spool, in a private folder removed at exit. */
export function spoolFile(): string {
  installHandlers();
  spoolFolder ??= mkdtempSync(join(tmpdir(), `modsurg-spool-${process.pid}-`));
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
