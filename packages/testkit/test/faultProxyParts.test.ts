import { Buffer } from 'node:buffer';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { endToEndHeaders } from '../src/faultProxy/headers.js';
import { proxiedKubeConfig, proxyCredentials, targetIdentity } from '../src/faultProxy/proxyTls.js';

describe('endToEndHeaders', () => {
  it('drops hop-by-hop headers and passes the rest', () => {
    const headers = endToEndHeaders({
      'content-type': 'application/json',
      accept: 'application/json',
      'transfer-encoding': 'chunked',
      'keep-alive': 'timeout=5',
      connection: 'keep-alive',
      upgrade: 'h2c',
      te: 'trailers',
      'proxy-authorization': 'Basic eA==',
    });
    expect(headers).toEqual({ 'content-type': 'application/json', accept: 'application/json' });
  });

  it('drops the headers that Connection names, whatever their case and spacing', () => {
    const headers = endToEndHeaders({ connection: ' X-Hop ,x-other,,', 'x-hop': '1', 'x-other': '2', 'x-kept': '3' });
    expect(headers).toEqual({ 'x-kept': '3' });
  });

  it('drops the extra names it is given, and keeps repeated values', () => {
    const headers = endToEndHeaders(
      { host: 'proxy', authorization: 'Bearer client', 'set-cookie': ['a=1', 'b=2'] },
      new Set(['host', 'authorization']),
    );
    expect(headers).toEqual({ 'set-cookie': ['a=1', 'b=2'] });
  });
});

describe('the proxy TLS', () => {
  it('serves a certificate for 127.0.0.1 and localhost, from a CA of its own', () => {
    const credentials = proxyCredentials();
    const serving = new X509Certificate(credentials.certPem);
    const ca = new X509Certificate(credentials.caPem);
    expect(serving.verify(ca.publicKey)).toBe(true);
    expect(serving.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(serving.checkHost('localhost')).toBe('localhost');
    expect(serving.checkPrivateKey(createPrivateKey(credentials.keyPem))).toBe(true);
    // Two proxies never share a CA.
    expect(new X509Certificate(proxyCredentials().caPem).fingerprint256).not.toBe(ca.fingerprint256);
  });

  it('gives clients a KubeConfig that points at the proxy and trusts only its CA, with the same user', () => {
    const target = new KubeConfig();
    target.loadFromOptions({
      clusters: [{ name: 'real', server: 'https://10.0.0.1:6443', caData: 'dXBzdHJlYW0=', tlsServerName: 'api', skipTLSVerify: false }],
      users: [{ name: 'me', token: 'secret-token' }],
      contexts: [{ name: 'ctx', cluster: 'real', user: 'me', namespace: 'shop' }],
      currentContext: 'ctx',
    });
    const kubeConfig = proxiedKubeConfig(targetIdentity(target), 'https://127.0.0.1:4444', 'PEM');
    expect(kubeConfig.getCurrentCluster()).toMatchObject({
      name: 'real',
      server: 'https://127.0.0.1:4444',
      caData: Buffer.from('PEM').toString('base64'),
      skipTLSVerify: false,
    });
    // The upstream's TLS server name belongs to the upstream hop.
    expect(kubeConfig.getCurrentCluster()?.tlsServerName).toBeUndefined();
    expect(kubeConfig.getCurrentUser()).toEqual(target.getCurrentUser());
    expect(kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace).toBe('shop');
  });

  it('refuses a target with no current context, naming what it needs', () => {
    expect(() => targetIdentity(new KubeConfig())).toThrow(/needs a current context with a cluster and a user/);
  });
});
