import { renderCliDoc } from './cli-doc.js';
import { renderConfigurationDoc } from './configuration-doc.js';

/** The reference pages generated from the code they describe, by path under the checkout. */
export async function generatedDocs(): Promise<Record<string, string>> {
  return {
    'docs/configuration.md': renderConfigurationDoc(),
    'docs/cli.md': await renderCliDoc(),
  };
}
