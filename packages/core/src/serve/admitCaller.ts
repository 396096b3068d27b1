import type { TLSSocket } from 'node:tls';
import { authorizePeer, type PeerAuthorizer } from './authorizer.js';
import { peerIdentity, type PeerIdentity } from './peerIdentity.js';

/** The outcome of {@link admitCaller}: the caller's identity, or the refusal to send. */
export type CallerAdmission =
  | { readonly admitted: true; readonly peer: PeerIdentity | undefined }
  | { readonly admitted: false; readonly peer: PeerIdentity | undefined; readonly reason: string; readonly status: 403 };

/**
 * The one step every server adapter takes per request: read who called (from a verified client
 * certificate) and, with an authorizer, decide whether they may. Adapters only translate the
 * outcome into their framework's reply. The cluster domain is the authorizer's, else
 * `clusterDomain`, else 'cluster.local'.
 */
export function admitCaller(socket: TLSSocket, authorizer: PeerAuthorizer | undefined, clusterDomain?: string): CallerAdmission {
  if (!authorizer) return { admitted: true, peer: peerIdentity(socket, clusterDomain) };
  const decision = authorizePeer(socket, authorizer, clusterDomain);
  return decision.allowed
    ? { admitted: true, peer: decision.peer }
    : { admitted: false, peer: decision.peer, reason: decision.reason, status: 403 };
}
