import { expect } from 'chai';
import { ACR_EMAIL, ACR_PASSKEY } from '../../src/oidc/acr.js';
import { passkeyDemanded } from '../../src/oidc/passkey-policy.js';
import { passkeyAmr } from '../../src/passkeys/passkey-service.js';

describe('passkeys: what an app demands, and what the ID token says', () => {
  it('an app demands a passkey by naming its acr and not the email one', () => {
    expect(passkeyDemanded({ acr_values: ACR_PASSKEY })).to.equal(true);
    expect(passkeyDemanded({ acr_values: `urn:other ${ACR_PASSKEY}` })).to.equal(true);
    // both listed: either will do
    expect(passkeyDemanded({ acr_values: `${ACR_PASSKEY} ${ACR_EMAIL}` })).to.equal(false);
    expect(passkeyDemanded({ acr_values: ACR_EMAIL })).to.equal(false);
    expect(passkeyDemanded({})).to.equal(false);
    expect(passkeyDemanded({ acr_values: [ACR_PASSKEY] })).to.equal(false);
  });

  it('amr by RFC 8176: a synced passkey is a software key, a device-bound one a hardware key, and user verification is `user`', () => {
    expect(passkeyAmr({ deviceType: 'singleDevice', backedUp: false }, true)).to.deep.equal(['hwk', 'user']);
    expect(passkeyAmr({ deviceType: 'multiDevice', backedUp: true }, true)).to.deep.equal(['swk', 'user']);
    expect(passkeyAmr({ deviceType: 'singleDevice', backedUp: true }, false)).to.deep.equal(['swk']);
  });
});
