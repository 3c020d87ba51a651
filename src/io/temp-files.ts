import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Temporary files: outputs being written (removed if the process is interrupted before they are
 * complete) and spools of stdin (removed at exit). Ctrl-C never leaves either behind.
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
  spoolFolder ??= mkdtempSync(join(tmpdir(), 'modsurg-spool-'));
  return join(spoolFolder, `spool-${spools++}`);
}
