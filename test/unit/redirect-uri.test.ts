import { expect } from 'chai';
import { checkRedirectUri } from '../../src/clients/redirect-uri.js';

function expectKind(uri: string, kind: 'web' | 'loopback' | 'custom-scheme'): void {
  expect(checkRedirectUri(uri), uri).to.deep.equal({ kind });
}

function expectRefused(uri: string, reason?: RegExp): void {
  const result = checkRedirectUri(uri);
  expect(result, uri).to.have.property('error').that.is.a('string');
  expect(result, uri).not.to.have.property('kind');
  if (reason) expect((result as { error: string }).error, uri).to.match(reason);
}

describe('checkRedirectUri', () => {
  it('accepts https URIs as web', () => {
    expectKind('https://app.example.com/callback', 'web');
    expectKind('https://app.example.com:8443/cb?tenant=1', 'web');
    expectKind('HTTPS://App.Example.com/cb', 'web');
  });

  it('accepts http only on loopback hosts', () => {
    expectKind('http://localhost/callback', 'loopback');
    expectKind('http://localhost:8080/callback', 'loopback');
    expectKind('http://127.0.0.1:51234/cb', 'loopback');
    expectKind('http://[::1]:51234/cb', 'loopback');
    expectKind('http://LOCALHOST/cb', 'loopback');
  });

  it('refuses http anywhere else', () => {
    expectRefused('http://app.example.com/callback', /http is only allowed for loopback/);
    expectRefused('http://localhost.evil.example/cb', /http is only allowed for loopback/);
    expectRefused('http://192.168.1.10/cb', /http is only allowed for loopback/);
    expectRefused('http://127.0.0.2/cb', /http is only allowed for loopback/);
  });

  it('refuses fragments, even an empty one', () => {
    expectRefused('https://app.example.com/cb#frag', /fragment/);
    expectRefused('https://app.example.com/cb#', /fragment/);
    expectRefused('http://localhost/cb#x', /fragment/);
  });

  it('refuses wildcards', () => {
    expectRefused('https://*.example.com/cb', /wildcard/);
    expectRefused('https://app.example.com/*', /wildcard/);
  });

  it('refuses credentials in the URI', () => {
    expectRefused('https://user:pw@app.example.com/cb', /credentials/);
    expectRefused('https://user@app.example.com/cb', /credentials/);
  });

  it('refuses relative URIs', () => {
    expectRefused('/callback', /absolute/);
    expectRefused('callback', /absolute/);
    expectRefused('//app.example.com/cb', /absolute/);
    expectRefused('app.example.com/cb', /absolute/);
    expectRefused('', /absolute/);
  });

  it('refuses dangerous schemes', () => {
    expectRefused('javascript:alert(1)', /javascript: scheme/);
    expectRefused('JavaScript:alert(1)', /javascript: scheme/);
    expectRefused('data:text/html,<script>alert(1)</script>', /data: scheme/);
    expectRefused('file:///etc/passwd', /file: scheme/);
    expectRefused('vbscript:msgbox(1)');
    expectRefused('ftp://files.example.com/cb');
  });

  it('accepts a private-use scheme only in reverse-domain form', () => {
    expectKind('com.example.app:/callback', 'custom-scheme');
    expectKind('com.example.app:/oauth2redirect/provider', 'custom-scheme');
    expectRefused('myapp:/callback', /reverse-domain/);
    expectRefused('myapp://callback', /reverse-domain/);
  });
});
