import { Buffer } from 'node:buffer';
import * as https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import type { Cluster, Context, User } from '@kubernetes/client-node';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { TestkitError } from '../errors.js';

/** The only address the proxy listens on. */
export const LOOPBACK = '127.0.0.1';

/** The target's current cluster, user and context: what the proxy forwards to, and as whom. */
export interface TargetIdentity {
  cluster: Cluster;
  user: User;
  context: Context;
}

/** The current cluster, user and context of `target`; throws, naming what is missing, if any is. */
export function targetIdentity(target: KubeConfig): TargetIdentity {
  const cluster = target.getCurrentCluster();
  const user = target.getCurrentUser();
  const context = target.getContextObject(target.getCurrentContext());
  if (!cluster || !user || !context) {
    throw new TestkitError('E_USAGE', 'startFaultProxy: the target KubeConfig needs a current context with a cluster and a user');
  }
  return { cluster, user, context };
}

/** The proxy's own CA and a serving certificate from it for 127.0.0.1 and localhost (PEM). */
export interface ProxyCredentials {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A fresh CA for this proxy alone, and its serving certificate. */
export function proxyCredentials(): ProxyCredentials {
  const ca = CertificateAuthority.create({ commonName: 'serving-cert fault proxy CA' });
  const serving = ca.issue({
    commonName: 'serving-cert fault proxy',
    dnsNames: ['localhost'],
    ipAddresses: [LOOPBACK],
    extendedKeyUsage: ['serverAuth'],
  });
  return { caPem: ca.certPem, certPem: serving.certPem, keyPem: serving.keyPem };
}

/** The proxy's HTTPS server (not yet listening), serving `credentials`. */
export function createProxyServer(credentials: ProxyCredentials): https.Server {
  const server = https.createServer({ cert: credentials.certPem, key: credentials.keyPem });
  // Watches are long: the default limit on receiving a request must not cut them in tests that
  // run for minutes against a real API server.
  server.requestTimeout = 0;
  return server;
}

/** The target's current cluster, user and context, with the server and CA swapped for the proxy's. */
export function proxiedKubeConfig({ cluster, user, context }: TargetIdentity, url: string, caPem: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    // Only name, server and CA: the target's TLS server name and HTTP proxy belong to the upstream hop.
    clusters: [{ name: cluster.name, server: url, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ ...user }],
    contexts: [{ ...context }],
    currentContext: context.name,
  });
  return kubeConfig;
}
