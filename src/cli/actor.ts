import { userInfo } from 'node:os';

/** Who did it, for the audit trail: the CLI and the operating-system user running it. */
export function cliActor(): Record<string, string> {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return { via: 'cli', user };
}
