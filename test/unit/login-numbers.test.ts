import { expect } from 'chai';
import type { LoginRequest } from '../../src/login/login-request.js';
import { LoginService, type LoginSettings } from '../../src/login/login-service.js';

/** The number shown for another device, across new emails for one sign-in. */
describe('login: the number a new email keeps', () => {
  const settings = { matchMaxAttempts: 3 } as LoginSettings;
  const login = new LoginService(undefined as never, undefined as never, undefined as never, undefined as never, undefined as never, settings);
  const request = (status: LoginRequest['status'], matchAttempts = 0) => ({ status, matchNumber: 42, matchAttempts }) as LoginRequest;

  it('keeps the number of a request that was waiting, expired, replaced or locked by codes', () => {
    for (const status of ['pending', 'expired', 'superseded', 'locked'] as const) expect(login.numberToKeep(request(status)), status).to.equal(42);
  });

  it('draws a new one after the sign-in was stopped on the other device: that number was guessed at', () => {
    expect(login.numberToKeep(request('denied'))).to.equal(undefined);
    expect(login.numberToKeep(request('denied', 3))).to.equal(undefined);
    expect(login.numberToKeep(undefined)).to.equal(undefined);
  });

  it('tells a stop by wrong numbers from "This wasn’t me"', () => {
    expect(login.stoppedBy(request('denied', 3))).to.equal('mismatch');
    expect(login.stoppedBy(request('denied', 2))).to.equal('not_me');
  });
});
