import { constants as http2Constants, type Http2SecureServer, type Http2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { followCertificate, type ServingCert } from '@serving-cert/core';

/**
 * Between the GOAWAY that asks an old HTTP/2 session for no new streams and the final one (RFC
 * 9113 section 6.8 asks for at least a round trip): the client moves to a new session meanwhile.
 */
const HTTP2_GOAWAY_GRACE_MS = 1_000;
/** The highest stream id: a GOAWAY with it asks for no new streams and refuses none on the wire. */
const ALL_STREAMS = 2 ** 31 - 1;

/**
 * Moves the HTTP/2 clients of `server` onto `cert`'s new certificate after a rotation: an old
 * session gets a GOAWAY with the highest stream id (open no new streams here), then,
 * {@link HTTP2_GOAWAY_GRACE_MS} later, `close()`: the final GOAWAY, after which the streams in
 * flight finish and the session ends. Node's nghttp2 ignores a stream that reaches it after any
 * GOAWAY it sent (it has no shutdown notice), so a stream the client sent before it heard is
 * refused by the final GOAWAY with REFUSED_STREAM: never processed, safe to retry, but Node's
 * http2 client and undici do not. Hence opt-in. (HTTP/1.1 connections are core's
 * `handOverConnectionsOnRotate`.) Returns the function that stops it (sessions already told to
 * go away still close).
 */
export function goAwayOldSessionsOnRotate(server: Http2SecureServer, cert: ServingCert): () => void {
  let served = cert.current.info.fingerprint256;
  const isOld = (socket: TLSSocket | undefined): boolean => {
    const fingerprint = socket?.getX509Certificate?.()?.fingerprint256; // once per session
    return fingerprint !== undefined && fingerprint !== served;
  };
  const sessions = new Set<Http2Session>();
  const goingAway = new WeakSet<Http2Session>();
  const sendAway = (session: Http2Session): void => {
    if (goingAway.has(session) || session.closed || session.destroyed) return;
    goingAway.add(session);
    session.goaway(http2Constants.NGHTTP2_NO_ERROR, ALL_STREAMS);
    const final = setTimeout(() => session.close(), HTTP2_GOAWAY_GRACE_MS).unref();
    session.once('close', () => clearTimeout(final));
  };
  const onSession = (session: Http2Session): void => {
    // One whose handshake began before the latest rotation goes away too, a moment later: a
    // client sends its first requests as soon as it connects, and undici fails the requests it
    // has in flight on any GOAWAY (measured: a GOAWAY at once cost about 3 requests a rotation).
    if (isOld(session.socket as TLSSocket | undefined)) {
      const later = setTimeout(() => sendAway(session), HTTP2_GOAWAY_GRACE_MS).unref();
      session.once('close', () => clearTimeout(later));
      return;
    }
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  };
  const unfollow = followCertificate(cert, 'rotate', () => {
    served = cert.current.info.fingerprint256;
    for (const session of sessions) {
      sessions.delete(session);
      sendAway(session);
    }
  });
  server.on('session', onSession);
  return () => {
    unfollow();
    server.off('session', onSession);
  };
}
