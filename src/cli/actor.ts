import { userInfo } from 'node:os';

/** Who did it, for the audit trail: the CLI and the operating-system user running it (`cli:alice`). */
export function cliActor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return `cli:${user}`;
}
