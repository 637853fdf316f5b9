/**
 * The secrets every test server uses, so that CLI processes in a test can share its database (and
 * the template databases' signing key, sealed with them, opens on every test server).
 */
export const TEST_SECRETS = {
  COOKIE_KEYS: 'test-cookie-key-0123456789abcdefghijklmnop',
  HMAC_SECRETS: 'test-hmac-secret-0123456789abcdefghijklmnop',
};
