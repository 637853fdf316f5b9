/**
 * Where a command writes and how it asks: the process's own streams for `sesame` itself, buffers
 * for a test that runs the command in its own process.
 */
export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** asks on a terminal; absent without one (a script, a pipe, a test), which the command takes as no */
  ask?: (question: string) => Promise<string>;
}

/** Everything a command reads from its process, given instead of read from `process`. */
export interface CliIo extends CommandIo {
  env: Record<string, string | undefined>;
  cwd: string;
}
