// What each channel sends for a notification, and the sending: a signed webhook POST, a
// Slack-compatible incoming webhook, an email. HTTP goes to the checked target only (its
// name resolved through the guard, no redirects followed) and gives up at the deadline.
import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createTransport } from 'nodemailer';
import type { Notification } from './notification.js';
import { valueText } from '../query/value-text.js';
import type { SmtpTransport } from './channel-settings.js';
import { checkTarget, guardedLookup, portOf, type TargetPolicy } from './targets.js';

export const SIGNATURE_HEADER = 'x-agentmeter-signature';
export const TIMESTAMP_HEADER = 'x-agentmeter-timestamp';

/** `sha256=<hex>` of `<timestamp>.<body>` under the tenant's webhook secret: what a receiver recomputes. */
export function signature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function webhookBody(n: Notification) {
  return {
    id: n.id,
    rule: { id: n.ruleId, name: n.ruleName, severity: n.severity },
    state: n.state,
    renotify: n.renotify,
    metric: n.metric,
    group: n.group,
    value: n.value,
    condition: n.condition,
    window: n.window,
    at: n.at,
    link: n.link,
  };
}

const STATE_WORDS = { firing: 'Firing', resolved: 'Resolved', no_data: 'No data' } as const;

function headline(n: Notification): string {
  const group = n.group
    ? ` (${Object.entries(n.group)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')})`
    : '';
  return `${STATE_WORDS[n.state]}${n.renotify ? ' (still)' : ''}: ${n.ruleName}${group}`;
}

const shown = (n: Notification) => valueText(n.metric, n.value);

/**
 * Text for Slack's markup: `&`, `<` and `>` are its control characters, so an agent's
 * project named `<!channel>` is shown as written instead of notifying everyone.
 */
export const slackText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Slack's incoming-webhook shape: `text` for notifications, `blocks` for the message itself. */
export function slackBody(n: Notification) {
  const title = headline(n);
  return {
    text: slackText(`${title}: ${n.metric} ${shown(n)}, ${n.condition} over ${n.window}`),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: title.slice(0, 150) } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Value*\n${n.metric}: ${shown(n)}` },
          { type: 'mrkdwn', text: `*Condition*\n${n.condition}` },
          { type: 'mrkdwn', text: `*Window*\n${n.window}` },
          { type: 'mrkdwn', text: `*Severity*\n${n.severity}` },
        ],
      },
      {
        type: 'actions',
        elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open the alert' }, url: n.link }],
      },
    ],
  };
}

export function emailOf(n: Notification): { subject: string; text: string } {
  return {
    subject: `[agentmeter] ${headline(n)}`,
    text: [
      headline(n),
      '',
      `Value:     ${n.metric} = ${shown(n)}`,
      `Condition: ${n.condition}`,
      `Window:    ${n.window}`,
      `Severity:  ${n.severity}`,
      `At:        ${n.at}`,
      '',
      n.link,
    ].join('\n'),
  };
}

export type HttpTarget = {
  url: string;
  body: string;
  headers: Record<string, string>;
  policy: TargetPolicy;
  timeoutMs: number;
  signal: AbortSignal;
};

/** POSTs `body`; resolves on a 2xx, else throws an error whose message goes on the channel's status. */
export function postJson(t: HttpTarget): Promise<void> {
  const checked = checkTarget(t.url, t.policy);
  if (!checked.ok) return Promise.reject(new Error(`refused: ${checked.message}`));
  const url = checked.url;
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'agentmeter-alerts',
        'content-length': Buffer.byteLength(t.body),
        ...t.headers,
      },
      lookup: guardedLookup(t.policy, portOf(url)),
      signal: t.signal,
    });
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${t.timeoutMs / 1000} s`)), t.timeoutMs);
    req.on('response', (res) => {
      res.resume(); // the answer's body is not read; only its status counts
      res.on('end', () => {
        clearTimeout(deadline);
        if (res.statusCode! >= 200 && res.statusCode! < 300) resolve();
        else reject(new Error(`answered HTTP ${res.statusCode}`));
      });
      res.on('error', (err) => (clearTimeout(deadline), reject(err)));
    });
    req.on('error', (err) => {
      clearTimeout(deadline);
      const code = (err as NodeJS.ErrnoException).code;
      reject(code === 'ETARGETREFUSED' ? new Error(`refused: ${err.message}`) : err);
    });
    req.end(t.body);
  });
}

export async function sendEmail(transport: SmtpTransport, to: string[], n: Notification): Promise<void> {
  const mailer = createTransport(transport.options);
  try {
    await mailer.sendMail({ from: transport.from, to, ...emailOf(n) });
  } finally {
    mailer.close();
  }
}
