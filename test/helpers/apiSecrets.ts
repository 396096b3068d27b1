import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { PLATFORM, serviceDnsNames } from '@serving-cert/core';
import type { CertificateAuthority, IssuedLeaf } from '@serving-cert/core/pki';
import { servedSerial } from './tls.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

/**
 * Service web and its Secret web-tls written directly with `ca`, for tests that drive every
 * version of the Secret themselves: the Service is NOT annotated (start with `annotate: false`),
 * so the platform's policies make no Certificate and cert-manager never writes web-tls. The
 * platform's Kyverno copies `service-root-ca` into the namespace; on a bare control plane (no
 * platform) it is written here with `ca`. The leaves chain to their own Secret's `ca.crt`.
 */
export async function prepareNamespace(kubeConfig: KubeConfig, namespace: string, ca: CertificateAuthority) {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespacedService({ namespace, body: { metadata: { name: 'web' }, spec: { ports: [{ port: 443 }] } } });
  const leaf = ca.issue({ dnsNames: serviceDnsNames('web', namespace) });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'web-tls' }, type: 'kubernetes.io/tls', data: secretData(leaf) } });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: PLATFORM.caSecretName }, data: { 'ca.crt': b64(ca.certPem) } } })
    .catch((error: { code?: number }) => {
      if (error.code !== 409) throw error; // the platform's copy is there already
    });
  return { core, leaf };
}
export const secretData = (leaf: IssuedLeaf) => ({ 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem), 'ca.crt': b64(leaf.caPem) });

/** Handshakes back to back until stopped, recording every serial presented. */
export function handshakeLoop(port: number, ca: string, servername: string) {
  const serials: string[] = [];
  let running = true;
  const done = (async () => {
    while (running) serials.push(await servedSerial(port, ca, servername));
  })();
  return { serials, stop: async () => { running = false; await done; } };
}

