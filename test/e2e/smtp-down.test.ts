import { expect } from 'chai';
import type { Browser as Chromium } from 'playwright-core';
import { closeChromium, launchChromium, newDevice } from '../support/chromium.js';
import { freePort } from '../support/cli.js';
import { DB_KINDS } from '../support/databases.js';
import { discover, registerClient, startAuthorization, type client } from '../support/relying-party.js';
import { eventually, ScriptedSmtp } from '../support/smtp-peers.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
// the waiting page calls a mail late after this long without it going out (15 s outside tests)
const DELAYED_AFTER_MS = 1_000;

async function metric(server: TestServer, series: string): Promise<number> {
  const res = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no ${series} in /metrics`);
  return Number(line.split(' ')[1]);
}

async function readyz(server: TestServer): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.issuer}/readyz`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

for (const kind of DB_KINDS) describe(`SMTP down: the operator and the person waiting see it (${kind})`, function () {
  this.timeout(90_000);
  let server: TestServer;
  let config: client.Configuration;
  let relay: ScriptedSmtp | undefined;
  let chromium: Chromium | undefined;
  let smtpPort: number;

  before(async () => {
    // Sesame's relay: a port where nothing listens yet
    smtpPort = await freePort();
    server = await startTestServer(kind, { SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, METRICS_TOKEN }, { outbox: { delayedAfterMs: DELAYED_AFTER_MS } });
    config = await discover(server.issuer, await registerClient(server.sesame, { isPublic: true, firstParty: true }));
  });
  after(async () => {
    await closeChromium(chromium);
    await relay?.close();
    await server?.close();
  });

  it('/readyz stays ready with a mail detail, the metrics say failing, the waiting page says "delayed"; all clear once mail goes out', async () => {
    // before any mail: nothing is known against the relay
    expect(await readyz(server)).to.deep.equal({ status: 200, body: { status: 'ready' } });
    expect(await metric(server, 'sesame_mail_relay_up')).to.equal(1);

    // the person, in a real browser: asks for the email and waits on the "check your email" page
    chromium = await launchChromium();
    const context = await newDevice(chromium, 'https://app.invalid');
    const page = await context.newPage();
    await page.goto((await startAuthorization(config)).url.toString());
    await page.locator('input#email').fill('late@example.com');
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
    await page.locator('#match-number').waitFor({ state: 'attached' });
    expect(await page.locator('#mail-delayed').isHidden(), 'no notice before anything failed for a while').to.equal(true);
    const statusUrl = await page.locator('#wait').getAttribute('data-status-url');
    const status = () => page.evaluate(async (url) => (await fetch(url, { headers: { accept: 'application/json' } })).json(), statusUrl!) as Promise<{ status: string; mail?: string }>;

    // a failure at once: the relay is failing, for the operator
    await eventually('the relay seen failing', async () => (await metric(server, 'sesame_mail_relay_up')) === 0 || undefined);
    const ready = await readyz(server);
    expect(ready.status, 'mail does not take the instance out of the load balancer').to.equal(200);
    expect(ready.body.status).to.equal('ready');
    const mail = ready.body.mail as { status: string; since: string; failures: number; reason: string };
    expect(mail.status).to.equal('failing');
    expect(mail.reason).to.include('ECONNREFUSED');
    expect(mail.failures).to.be.at.least(1);
    expect(Date.parse(mail.since)).to.be.at.most(Date.now());

    // for the person: "delayed" once the mail has failed for a while, not at the first hiccup
    const first = await status();
    expect(first.status).to.equal('pending');
    await eventually('the waiting page told the mail is late', async () => ((await status()).mail === 'delayed') || undefined);
    expect(await metric(server, 'sesame_mail_relay_failing_seconds')).to.be.above(0);

    // the page shows the notice and goes on waiting, the code entry still there
    await page.locator('#mail-delayed').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await page.locator('#mail-delayed').innerText()).to.match(/taking longer than usual/);
    expect(await page.locator('#code').isVisible(), 'code entry stays: the mail may still come').to.equal(true);

    // the relay comes back: the mail goes out, the notice and the failing state go away
    relay = await new ScriptedSmtp().start(smtpPort);
    await eventually('the mail delivered', () => relay!.countTo('late@example.com') || undefined, 30_000);
    await eventually('the relay seen up', async () => (await metric(server, 'sesame_mail_relay_up')) === 1 || undefined);
    expect(await readyz(server)).to.deep.equal({ status: 200, body: { status: 'ready' } });
    expect(await metric(server, 'sesame_mail_relay_failing_seconds')).to.equal(0);
    expect((await status()).mail).to.equal(undefined);
    await page.locator('#mail-delayed').waitFor({ state: 'hidden', timeout: 15_000 });
    await context.close();
  });
});
