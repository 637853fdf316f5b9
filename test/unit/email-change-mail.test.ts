import { expect } from 'chai';
import { emailChangeMailComposer, maskEmail } from '../../src/mail/email-change-mail.js';
import { Messages } from '../../src/shared/i18n.js';
import { localesDir, viewsDir } from '../../src/shared/paths.js';
import { Templates } from '../../src/shared/templates.js';

describe('email change mails', () => {
  const mails = emailChangeMailComposer(new Templates(viewsDir, new Messages(localesDir)), { productName: 'Acme ID', color: '#3b3bd6' });
  const at = Date.UTC(2026, 10, 28, 18, 2);

  it('masks an address down to its first character and its domain', () => {
    expect(maskEmail('alice@example.com')).to.equal('a***@example.com');
    expect(maskEmail('a@example.com')).to.equal('a***@example.com');
    expect(maskEmail('not-an-address')).to.equal('***');
  });

  it('asks the new address to confirm, with the link, its validity and the masked old address', () => {
    const link = 'https://id.example.com/account/email/confirm?token=abc';
    const mail = mails.confirmation({ to: 'new@example.org', oldEmail: 'old@example.com', link, requestedAt: at, expiresAt: at + 86_400_000, locale: 'en' });
    expect(mail.to).to.equal('new@example.org');
    expect(mail.subject).to.equal('Confirm your new email address for Acme ID');
    expect(mail.text).to.include(link).and.include('o***@example.com').and.include('Nov 29, 2026').and.not.include('old@example.com');
    expect(mail.html).to.include(`href="${link.replace(/=/g, '&#x3D;')}"`);
  });

  it('tells the old address where the account went (masked), when, and what to do', () => {
    const mail = mails.notice({ to: 'old@example.com', newEmail: 'new@example.org', changedAt: at, locale: 'de' });
    expect(mail.to).to.equal('old@example.com');
    expect(mail.subject).to.equal('Die E-Mail-Adresse Ihres Acme ID-Kontos wurde geändert');
    expect(mail.text).to.include('n***@example.org').and.include('18:02 UTC').and.include('Administration').and.not.include('new@example.org');
  });
});
