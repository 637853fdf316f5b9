import { expect } from 'chai';
import { ipKey } from '../../src/login/ip-key.js';

describe('ipKey: what the per-IP limits count under', () => {
  it('counts an IPv4 address on its own, also when it comes IPv4-mapped', () => {
    expect(ipKey('192.0.2.1', 64)).to.equal('192.0.2.1');
    expect(ipKey('192.0.2.2', 64)).to.equal('192.0.2.2');
    expect(ipKey('::ffff:192.0.2.1', 64)).to.equal('192.0.2.1');
  });

  it('counts every IPv6 address of one /64 as one, whatever its spelling, and another /64 apart', () => {
    const one = ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002:0000:0000:0000:0abc', '2001:DB8:1:2::9%eth0'];
    expect(new Set(one.map((ip) => ipKey(ip, 64)))).to.deep.equal(new Set(['2001:db8:1:2::/64']));
    expect(ipKey('2001:db8:1:3::1', 64)).to.equal('2001:db8:1:3::/64');
  });

  it('takes the configured prefix', () => {
    expect(ipKey('2001:db8:1:2::1', 48)).to.equal(ipKey('2001:db8:1:ffff::1', 48));
    expect(ipKey('2001:db8:1:2::1', 128)).to.equal('2001:db8:1:2::1/128');
    expect(ipKey('2001:db8:1:2::1', 56)).to.not.equal(ipKey('2001:db8:1:2ff::1', 56));
  });

  it('counts an unknown or unparsable address as itself', () => {
    expect(ipKey(undefined, 64)).to.equal('unknown');
    expect(ipKey('not-an-ip', 64)).to.equal('not-an-ip');
  });
});
