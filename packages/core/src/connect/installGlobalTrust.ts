import { readFileSync } from 'node:fs';
import https from 'node:https';
import * as tls from 'node:tls';
import type { Dispatcher } from 'undici';
import type { ServingCert } from '../types.js';
import { followMaterialChanges } from './handleFanOut.js';
import { loadUndici } from './loadUndici.js';
import { retirableAgent, retireAgent, type RetirableAgent } from './retireAgent.js';

/** Node >= 22.15 / 23.5 (getCACertificates) and 24.5 (setDefaultCACertificates); absent from @types/node 20. */
interface DefaultCaApi {
  getCACertificates?: (type?: 'default' | 'system' | 'bundled' | 'extra') => string[];
  setDefaultCACertificates?: (certs: string[]) => void;
}
const defaultCaApi = tls as unknown as DefaultCaApi;

/** The CAs Node trusts by default: its bundled roots plus NODE_EXTRA_CA_CERTS (and the system store where Node reads it). */
function defaultCas(): string[] {
  if (defaultCaApi.getCACertificates) return defaultCaApi.getCACertificates('default');
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  return [...tls.rootCertificates, ...(extra ? [readFileSync(extra, 'utf8')] : [])];
}

/**
 * Makes the process's own clients trust the platform's CAs besides the default ones, following
 * every trust change of `cert` (a CA rollover included):
 * - the global `fetch` (undici's global dispatcher: the package's `setGlobalDispatcher` sets the
 *   symbol Node's bundled fetch reads);
 * - `https.get` / `https.request` through `https.globalAgent` (its `ca`; note that an agent's
 *   options win over a request's, so a request with its own `ca` should bring its own agent);
 * - on Node versions that have `tls.setDefaultCACertificates` (24.5+), every TLS client that
 *   passes no `ca`.
 * No client certificate is ever sent by these: mTLS stays explicit, through createMtlsDispatcher.
 * Returns the function that restores the previous state (call them in reverse order if nested).
 *
 * "install", as it changes process-wide state and hands back its undo; "global", as undici's
 * global dispatcher and `https.globalAgent` are what it sets.
 */
export function installGlobalTrust(cert: ServingCert): () => void {
  const { buildConnector, getGlobalDispatcher, setGlobalDispatcher } = loadUndici();
  const previousDispatcher: Dispatcher = getGlobalDispatcher();
  const agentOptions = https.globalAgent.options;
  const hadCa = Object.hasOwn(agentOptions, 'ca');
  const previousAgentCa = agentOptions.ca;
  const previousDefaults = defaultCaApi.setDefaultCACertificates ? defaultCas() : undefined;
  const baseline = previousDefaults ?? defaultCas();

  let dispatcher: RetirableAgent | undefined;
  let appliedPem: string | undefined;
  const apply = (): void => {
    if (cert.trust.pem === appliedPem) return; // a rotation without a trust change
    appliedPem = cert.trust.pem;
    const ca = [...baseline, cert.trust.pem];
    // One context for every connection until the next trust change (~150 roots to parse).
    const connector = buildConnector({ secureContext: tls.createSecureContext({ ca }), rejectUnauthorized: true });
    const next = retirableAgent({ connect: (options, callback) => connector(options, callback) });
    setGlobalDispatcher(next.agent);
    // Requests in flight finish on the old one; then its sockets go (destroyed past a deadline).
    if (dispatcher) void retireAgent(dispatcher);
    dispatcher = next;
    agentOptions.ca = ca;
    defaultCaApi.setDefaultCACertificates?.(ca);
  };
  apply();
  const stopFollowing = followMaterialChanges(cert, apply);
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    stopFollowing();
    setGlobalDispatcher(previousDispatcher);
    if (dispatcher) void retireAgent(dispatcher);
    if (hadCa) agentOptions.ca = previousAgentCa;
    else delete agentOptions.ca;
    if (previousDefaults) defaultCaApi.setDefaultCACertificates?.(previousDefaults);
  };
}
