import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { FerryError } from '@ferry/shared';
import {
  ADDRESS_CLASS_LABELS,
  type AddressClass,
  classAllowed,
  classifyAddress,
  classifyHostName,
} from './address-policy.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to every address it has (the system resolver by default). */
export type HostLookup = (host: string) => Promise<ResolvedAddress[]>;

export const systemLookup: HostLookup = (host) => dnsLookup(host, { all: true, verbatim: true });

/** A receiver whose every address was checked: requests go to these addresses and no others. */
export interface WebhookTarget {
  url: URL;
  /** The URL's host without IPv6 brackets: the Host header and the TLS server name. */
  host: string;
  addresses: ResolvedAddress[];
}

export interface AddressPolicy {
  /** FERRY_WEBHOOK_ALLOW_PRIVATE: loopback and private receivers are allowed (on-prem installs). */
  allowPrivate: boolean;
  lookup?: HostLookup;
}

function refuse(host: string, verb: 'is' | 'resolves to', cls: Exclude<AddressClass, 'public'>): never {
  const onPrem = classAllowed(cls, { allowPrivate: true })
    ? ' (an on-premises install may allow receivers on its own network with FERRY_WEBHOOK_ALLOW_PRIVATE=true)'
    : '';
  throw new FerryError(
    'webhook.url_not_allowed',
    `url: ${host} ${verb} ${ADDRESS_CLASS_LABELS[cls]}; webhooks are delivered to public addresses only${onPrem}`,
  );
}

/**
 * Checks where `rawUrl` would be delivered: an IP literal by its class, a host name by its name
 * (cloud metadata, localhost) and then by every address it resolves to, any refused one refusing it
 * (webhook.url_not_allowed). A lookup failure is thrown as the resolver's error. The caller connects
 * to the returned addresses only, so a name that resolves differently a moment later (DNS
 * rebinding) cannot redirect the request.
 */
export async function resolveWebhookTarget(rawUrl: string, policy: AddressPolicy): Promise<WebhookTarget> {
  const url = new URL(rawUrl);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(host);
  if (family !== 0) {
    const cls = classifyAddress(host);
    if (!classAllowed(cls, policy)) refuse(host, 'is', cls as Exclude<AddressClass, 'public'>);
    return { url, host, addresses: [{ address: host, family }] };
  }
  const named = classifyHostName(host);
  if (named && !classAllowed(named, policy)) refuse(host, 'is', named as Exclude<AddressClass, 'public'>);
  const addresses = await (policy.lookup ?? systemLookup)(host);
  if (addresses.length === 0) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
  for (const a of addresses) {
    const cls = classifyAddress(a.address);
    if (!classAllowed(cls, policy)) refuse(host, 'resolves to', cls as Exclude<AddressClass, 'public'>);
  }
  return { url, host, addresses };
}

/** A `lookup` for the socket that answers with the checked addresses only, never asking DNS again. */
function pinnedLookup(addresses: ResolvedAddress[]): LookupFunction {
  return (_host, options, callback) => {
    const same = addresses.filter((a) => options.family === undefined || a.family === options.family);
    const list = same.length > 0 ? same : addresses;
    if (options.all) callback(null, list);
    else callback(null, list[0]?.address ?? '', list[0]?.family ?? 4);
  };
}

/**
 * POSTs `body` to a checked target and answers its status. The connection goes to the checked
 * addresses with the URL's host as Host header and TLS server name (the certificate is verified for
 * it as usual). Redirects are not followed; the response body is not read.
 */
export function postToWebhookTarget(
  target: WebhookTarget,
  opts: { headers: Record<string, string>; body: string; signal: AbortSignal },
): Promise<{ status: number }> {
  const { url, host } = target;
  const https = url.protocol === 'https:';
  const send = https ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send({
      method: 'POST',
      host,
      port: url.port === '' ? (https ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: {
        ...opts.headers,
        host: url.host,
        'content-length': String(Buffer.byteLength(opts.body)),
      },
      lookup: pinnedLookup(target.addresses),
      // A fresh connection per delivery: a pooled socket could belong to an earlier resolution.
      agent: false,
      ...(https && isIP(host) === 0 ? { servername: host } : {}),
      signal: opts.signal,
    });
    req.once('response', (res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.destroy();
    });
    req.once('error', reject);
    req.end(opts.body);
  });
}
