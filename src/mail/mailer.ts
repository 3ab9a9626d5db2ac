// Outgoing email over SMTP (nodemailer), when the appliance is configured for it
// (--smtp-url, --smtp-from). Without it there is no mailer, and whoever would have sent a
// link is shown the link to pass on.
import { createTransport } from 'nodemailer';
import type { Config } from '../config.js';

export type Mail = { to: string; subject: string; text: string };
export type Mailer = { send(mail: Mail): Promise<void>; close(): void };

export function createMailer(smtp: Config['smtp']): Mailer | null {
  if (!smtp) return null;
  // Bounded, so an SMTP server that is down or silent answers the admin within seconds.
  const transport = createTransport({
    url: smtp.url,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    async send(mail) {
      await transport.sendMail({ from: smtp.from, ...mail });
    },
    close: () => transport.close(),
  };
}
