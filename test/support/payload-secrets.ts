import { KeyedHasher, SecretBox } from '../../src/shared/crypto.js';
import { storedPayloadId, type PayloadSecrets } from '../../src/store/oidc-adapter.js';

const SECRET = 'adapter-test-secret-0123456789abcdefghij';

/** What the adapter tests hash ids and seal with. */
export const testPayloadSecrets = (secrets: readonly string[] = [SECRET]): PayloadSecrets =>
  ({ hasher: new KeyedHasher(secrets), box: new SecretBox(secrets, 'interaction') });

/** The id a model's row is stored under (hashed for the models whose id is a bearer value). */
export const storedId = (model: string, id: string, secrets = testPayloadSecrets()): string => storedPayloadId(secrets, model, id);

/** What the store tests seal mail bodies with. */
export const testMailBox = (secrets: readonly string[] = [SECRET]): SecretBox => new SecretBox(secrets, 'mail encryption');
