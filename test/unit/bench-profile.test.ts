import { expect } from 'chai';
import { compareProfiles, type ProfileSummary } from '../bench/cpu-profile.js';

function summary(busyMs: number, functions: [name: string, where: string, category: string, selfMs: number][]): ProfileSummary {
  const categories = new Map<string, number>();
  for (const [, , category, ms] of functions) categories.set(category, (categories.get(category) ?? 0) + ms);
  return {
    totalMs: busyMs,
    idleMs: 0,
    busyMs,
    byCategory: [...categories].map(([category, selfMs]) => ({ category, selfMs, share: selfMs / busyMs })),
    top: functions.map(([fn, where, category, selfMs]) => ({ function: fn, where, category, selfMs, share: selfMs / busyMs })),
  };
}

describe('benchmark profile comparison (unit)', () => {
  // Sesame: 100 requests in 60 ms; the reference: 200 requests in 40 ms (0.6 against 0.2 ms each)
  const sesame = summary(60, [
    ['find', 'node_modules/oidc-provider/lib/models/client.js:572', 'oidc-provider', 10],
    ['first', 'dist/src/store/oidc-adapter.js:130', 'Sesame store (incl. oidc adapter)', 30],
    ['writev', '(native)', 'V8/native builtins', 20],
  ]);
  const reference = summary(40, [
    ['find', 'node_modules/oidc-provider/lib/models/client.js:572', 'oidc-provider', 4],
    ['writev', '(native)', 'V8/native builtins', 16],
    ['(anonymous)', 'node_modules/oidc-provider/lib/adapters/memory_adapter.js:20', 'oidc-provider', 20],
  ]);
  const d = compareProfiles({ summary: sesame, count: 100 }, { summary: reference, count: 200 });

  it('compares per unit of work, not per run', () => {
    expect(d.sesameBusyUs).to.equal(600);
    expect(d.referenceBusyUs).to.equal(200);
    const writev = d.top.find((f) => f.function === 'writev')!;
    expect([writev.sesameUs, writev.referenceUs, writev.differenceUs]).to.deep.equal([200, 80, 120]);
  });

  it('matches functions by name and place, and keeps those only one side ran', () => {
    const find = d.top.filter((f) => f.function === 'find');
    expect(find).to.have.length(1);
    expect(find[0].differenceUs).to.equal(80);
    expect(d.top.find((f) => f.function === 'first')).to.include({ sesameUs: 300, referenceUs: 0, differenceUs: 300 });
    expect(d.top.find((f) => f.where?.includes('memory_adapter'))).to.include({ sesameUs: 0, referenceUs: 100, differenceUs: -100 });
  });

  it('orders functions by the size of the difference either way, and kinds of code by what Sesame adds', () => {
    expect(d.top.map((f) => f.differenceUs)).to.deep.equal([300, 120, -100, 80]);
    expect(d.byCategory.map((c) => [c.category, c.differenceUs])).to.deep.equal([
      ['Sesame store (incl. oidc adapter)', 300],
      ['V8/native builtins', 120],
      ['oidc-provider', -20],
    ]);
  });

  it('keeps only the largest differences when asked', () => {
    expect(compareProfiles({ summary: sesame, count: 100 }, { summary: reference, count: 200 }, 2).top.map((f) => f.function)).to.deep.equal(['first', 'writev']);
  });
});
