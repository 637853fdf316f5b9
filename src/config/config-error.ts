/** Thrown for every invalid setting; the message names the setting so start-up can print it as is. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1
      ? `Invalid configuration: ${problems[0]}`
      : `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}
