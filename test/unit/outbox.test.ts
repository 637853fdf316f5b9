import { expect } from 'chai';
import { OutboxWorker, type OutboxItem, type OutboxStore } from '../../src/mail/outbox.js';
import type { MailMessage } from '../../src/mail/message.js';
import { createLogger } from '../../src/shared/logger.js';

/** An outbox in memory: every message due at once, a claim is a lease of the whole message. */
class MemoryOutbox implements OutboxStore {
  readonly pending = new Map<number, MailMessage>();
  readonly calls: string[] = [];
  readonly sent: number[] = [];
  readonly withheld: number[] = [];
  readonly toWithhold = new Set<number>();

  async depth() {
    return { pending: this.pending.size };
  }
  async claimDue(_now: number, limit: number): Promise<OutboxItem[]> {
    this.calls.push('claimDue');
    const ids = [...this.pending.keys()].slice(0, limit);
    return ids.map((id) => this.#take(id)!);
  }
  async claim(id: number): Promise<OutboxItem | undefined> {
    this.calls.push(`claim ${id}`);
    return this.#take(id);
  }
  async markSent(id: number) {
    this.sent.push(id);
  }
  async markWithheld(id: number) {
    this.withheld.push(id);
  }
  async reschedule() {}
  async markFailed() {}
  async extendLease() {}
  async resumeWaiting() {
    return 0;
  }

  #take(id: number): OutboxItem | undefined {
    const message = this.pending.get(id);
    if (!message) return undefined;
    this.pending.delete(id);
    return { id, attempts: 1, message, withheld: this.toWithhold.has(id) };
  }
}

/** A transport whose sends finish when the test says so. */
function heldTransport() {
  const waiting: (() => void)[] = [];
  return {
    waiting,
    transport: { send: () => new Promise<void>((resolve) => waiting.push(resolve)), close: () => {} },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

const message = (n: number): MailMessage => ({ to: `p${n}@example.com`, subject: 's', text: 't', html: 'h' });

/**
 * A started worker (polling only once an hour) after its first pass, which found messages 1 to
 * `queuedBefore` in the outbox; the store's calls are cleared.
 */
async function startedWorker(queuedBefore = 0) {
  const store = new MemoryOutbox();
  for (let id = 1; id <= queuedBefore; id++) store.pending.set(id, message(id));
  const { waiting, transport } = heldTransport();
  const worker = new OutboxWorker(store, transport, createLogger('silent'), { pollIntervalMs: 3_600_000 });
  worker.start();
  await settle();
  store.calls.length = 0;
  return { store, waiting, worker };
}

describe('outbox worker: mail handed over by the process that queued it', () => {
  it('claims that message by id and sends it, without a pass over the outbox', async () => {
    const { store, waiting, worker } = await startedWorker();
    store.pending.set(7, message(7));
    worker.deliverQueued(7);
    await settle();
    expect(store.calls).to.deep.equal(['claim 7']);
    waiting.forEach((done) => done());
    await worker.stop();
    expect(store.sent).to.deep.equal([7]);
  });

  it('beyond the in-flight limit leaves the message to a pass, which runs as soon as one is sent', async () => {
    const { store, waiting, worker } = await startedWorker();
    for (let id = 1; id <= 11; id++) {
      store.pending.set(id, message(id));
      worker.deliverQueued(id);
    }
    await settle();
    expect(store.calls).to.not.include('claim 11');
    expect(waiting).to.have.length(10);
    waiting.shift()!();
    await settle();
    expect(store.calls.at(-1)).to.equal('claimDue');
    expect(waiting).to.have.length(10);
    for (const done of waiting.splice(0)) done();
    await worker.stop();
    expect([...store.sent].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 11 }, (_, i) => i + 1));
  });

  it('counts what a pass is sending against the same limit: a hand-over then waits for that pass', async () => {
    const { store, waiting, worker } = await startedWorker(10);
    expect(waiting, 'the first pass sends all ten').to.have.length(10);
    store.pending.set(11, message(11));
    worker.deliverQueued(11);
    await settle();
    expect(store.calls).to.not.include('claim 11');
    expect(waiting).to.have.length(10);
    waiting.shift()!();
    await settle();
    expect(waiting, 'the pass took it as soon as one was sent').to.have.length(10);
    for (const done of waiting.splice(0)) done();
    await worker.stop();
    expect(store.sent).to.have.length(11);
  });

  it('takes a withheld message like any other and marks it withheld without sending it', async () => {
    const { store, waiting, worker } = await startedWorker();
    store.pending.set(8, message(8));
    store.toWithhold.add(8);
    worker.deliverQueued(8);
    await settle();
    expect(store.calls).to.deep.equal(['claim 8']);
    expect(waiting, 'nothing handed to the transport').to.have.length(0);
    await worker.stop();
    expect(store.withheld).to.deep.equal([8]);
    expect(store.sent).to.deep.equal([]);
  });

  it('once stopped, takes nothing: the message stays in the outbox for the next start', async () => {
    const store = new MemoryOutbox();
    const worker = new OutboxWorker(store, heldTransport().transport, createLogger('silent'), { pollIntervalMs: 3_600_000 });
    worker.start();
    await worker.stop();
    store.calls.length = 0;
    store.pending.set(3, message(3));
    worker.deliverQueued(3);
    await settle();
    expect(store.calls).to.deep.equal([]);
    expect(store.pending.has(3)).to.equal(true);
  });
});
