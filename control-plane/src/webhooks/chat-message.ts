import { type AddressPolicy, postToWebhookTarget, resolveWebhookTarget } from './webhook-target.js';

/**
 * POSTs `{ "text": … }` to an incoming-webhook URL: the one body Slack and Microsoft Teams (incoming
 * webhooks and Workflows) both accept. The address is checked as for webhooks, every time.
 */
export async function postChatMessage(
  url: string,
  text: string,
  opts: AddressPolicy & { signal: AbortSignal },
): Promise<{ status: number }> {
  const target = await resolveWebhookTarget(url, opts);
  return postToWebhookTarget(target, {
    headers: { 'content-type': 'application/json', 'user-agent': 'ferry-alerts/1' },
    body: JSON.stringify({ text }),
    signal: opts.signal,
  });
}
