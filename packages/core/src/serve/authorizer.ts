import type { TLSSocket } from 'node:tls';
import { ServingCertError } from '../errors.js';
import { peerIdentity, type PeerIdentity } from './peerIdentity.js';

/** Decides whether a caller may pass. A value, as go-spiffe's authorizers are, not a flag. */
export interface PeerAuthorizer {
  /** Says who is allowed, for messages. */
  readonly description: string;
  /** The cluster domain whose names identify peers (see {@link peerIdentity}). Default 'cluster.local'. */
  readonly clusterDomain?: string;
  allows(peer: PeerIdentity): boolean;
}

/** The outcome of {@link authorizePeer}. */
export type PeerDecision =
  | { allowed: true; peer: PeerIdentity }
  | { allowed: false; peer: PeerIdentity | undefined; reason: string };

/**
 * Allows the named Services (`'svc.ns'`, or `{ serviceName, namespace }`) and every Service of
 * the named namespaces. Nothing else passes; with no rule at all, nobody does.
 */
export function allowPeers(rule: {
  services?: Array<string | { serviceName: string; namespace: string }>;
  namespaces?: string[];
  /** The cluster's DNS domain, when it is not 'cluster.local'. */
  clusterDomain?: string;
}): PeerAuthorizer {
  const services = new Set((rule.services ?? []).map((service) => {
    if (typeof service !== 'string') return `${service.serviceName}.${service.namespace}`;
    if (!/^[^.]+\.[^.]+$/.test(service)) {
      throw new ServingCertError('E_CONFIG', `allowPeers: services takes "service.namespace" names; got "${service}"`);
    }
    return service;
  }));
  const namespaces = new Set(rule.namespaces ?? []);
  const parts = [...(services.size ? [`services ${[...services].join(', ')}`] : []), ...(namespaces.size ? [`namespaces ${[...namespaces].join(', ')}`] : [])];
  return {
    description: parts.join(' and ') || 'nobody',
    ...(rule.clusterDomain ? { clusterDomain: rule.clusterDomain } : {}),
    allows: (peer) => services.has(`${peer.serviceName}.${peer.namespace}`) || namespaces.has(peer.namespace),
  };
}

/**
 * Checks the caller on `socket` against `authorizer`. For plain Node, Express and Fastify alike:
 * `const decision = authorizePeer(req.socket, allow); if (!decision.allowed) reply 403`.
 * The cluster domain is the authorizer's, else `clusterDomain`, else 'cluster.local'.
 */
export function authorizePeer(socket: TLSSocket, authorizer: PeerAuthorizer, clusterDomain?: string): PeerDecision {
  const peer = peerIdentity(socket, authorizer.clusterDomain ?? clusterDomain);
  if (!peer) {
    // Not socket.authorized alone: Node marks a TLS 1.3 session resumed without any client
    // certificate as authorized (clientCert: 'request' lets such callers through).
    const presented = socket.getPeerX509Certificate() !== undefined;
    const reason = !presented
      ? 'no client certificate'
      : socket.authorized
        ? 'the client certificate names no one Service (svc.ns.svc or svc.ns.svc.<cluster domain>)'
        : `no verified client certificate (${String(socket.authorizationError)})`;
    return { allowed: false, peer: undefined, reason };
  }
  if (authorizer.allows(peer)) return { allowed: true, peer };
  return { allowed: false, peer, reason: `${peer.serviceName}.${peer.namespace} is not allowed; allowed are ${authorizer.description}` };
}

/** Allows every caller whose verified certificate names a Service; refuses callers without one. */
export const anyPeer: PeerAuthorizer = Object.freeze({
  description: 'any Service with a verified certificate',
  allows: () => true,
});
