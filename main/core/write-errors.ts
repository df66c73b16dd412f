/**
 * Failed writes of a run's files, in words a user can act on (issue 13: a full disk during the
 * metrics write used to end in a 39.5 KB dump of minified wasm source naming no file).
 */

/** "Cannot write <file>: <why>. <what to do>" for an errno error of a write into a run. */
export function describeRunWriteError(file: string, error: unknown, runDirectory: string): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const resume = `The checkpoints already written are safe; continue with: moco-studio train --resume ${runDirectory} (or Resume in the Runs view).`;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return `Cannot write ${file}: the disk is full (${code}). Training stopped. Free some space on that disk, then resume. ${resume}`;
    case 'EROFS':
      return `Cannot write ${file}: the file system is read-only (EROFS). Training stopped. ${resume}`;
    case 'EACCES':
    case 'EPERM':
      return `Cannot write ${file}: permission denied (${code}). Training stopped. Make the run directory writable, then resume. ${resume}`;
    case 'EIO':
      return `Cannot write ${file}: input/output error (EIO), the disk may be failing. Training stopped. ${resume}`;
    default:
      return `Cannot write ${file}: ${error instanceof Error ? error.message : String(error)}. Training stopped. ${resume}`;
  }
}
