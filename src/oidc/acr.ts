/** The acr value of a login proven by an emailed link or code. */
export const ACR_EMAIL = 'urn:sesame:acr:email';

/** The acr value of a login proven by a passkey (WebAuthn with user verification). */
export const ACR_PASSKEY = 'urn:sesame:acr:passkey';
