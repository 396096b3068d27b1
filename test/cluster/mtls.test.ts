import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api } from '@kubernetes/client-node';
import { request } from 'undici';
import { allowPeers, authorizePeer, createMtlsDispatcher, ensureServingCert, type ServingCert } from '@serving-cert/core';
import type { PlatformClient } from '@serving-cert/testkit';
import { applyAppRbac, controlPlane, createNamespace, platform as connectPlatform } from '../helpers/cluster.js';
import { nextEvent, recordingLogger } from '../helpers/tls.js';

let platform: PlatformClient;
beforeAll(async () => {
  platform = await connectPlatform();
});

async function serviceCert(namespace: string, serviceName: string): Promise<ServingCert> {
  await controlPlane().kubeConfig.makeApiClient(CoreV1Api).createNamespacedService({ namespace, body: {
    metadata: { name: serviceName }, spec: { ports: [{ port: 443 }] },
  } });
  const user = `${serviceName}-${namespace}`;
  await applyAppRbac(namespace, serviceName, user);
  // A one-minute trust grace: long enough for the rollover below, short for a test.
  return ensureServingCert({ renewOnRollover: false, kubeConfig: controlPlane().addUser(user), source: 'api', serviceName, namespace, timeoutMs: 30_000, trustGracePeriodMs: 60_000, logger: recordingLogger() });
}

describe('two services call each other over mTLS through every rotation', () => {
  it('a steady request loop sees no failure while the server, the client and the CA rotate', async () => {
    const namespace = await createNamespace('mtls');
    const api = await serviceCert(namespace, 'api');
    const web = await serviceCert(namespace, 'web');
    const allow = allowPeers({ services: [`web.${namespace}`] });
    const server = https.createServer(api.serverOptions({ clientCert: 'require' }), (req, res) => {
      const decision = authorizePeer(req.socket as TLSSocket, allow);
      res.statusCode = decision.allowed ? 200 : 403;
      res.end(decision.allowed ? decision.peer.serviceName : decision.reason);
    });
    api.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // Short keep-alive, so that new connections (and new material) come often during the loop.
    const dispatcher = createMtlsDispatcher(web, { peer: { serviceName: 'api', namespace }, keepAliveTimeout: 200 });

    const outcomes: Array<string> = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          const response = await request(url, { dispatcher });
          outcomes.push(`${response.statusCode} ${await response.body.text()}`);
        } catch (error) {
          outcomes.push(`failed: ${String(error)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const step = async (what: () => Promise<unknown>, ...waits: Array<Promise<unknown>>) => {
      await what();
      await Promise.all(waits);
      await new Promise((resolve) => setTimeout(resolve, 300)); // requests on the new material
    };
    let issuers: string[] = [];
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await step(() => platform.renew(namespace, 'api-cert'), nextEvent(api, 'rotate', 30_000));   // (a) the server's certificate
      await step(() => platform.renew(namespace, 'web-cert'), nextEvent(web, 'rotate', 30_000));   // (b) the client's certificate
      // The run's one platform changes its CA under every cluster test: their handles say
      // renewOnRollover: false, so that none asks for a re-issue a test did not plan (test/rollover
      // covers the re-issue, on a platform of its own).
      await step(() => platform.rotateCA(), nextEvent(api, 'trust', 30_000), nextEvent(web, 'trust', 30_000)); // (c) the CA...
      await step(() => platform.renew(namespace, 'api-cert'), nextEvent(api, 'rotate', 30_000));   // ...and both leaves under it
      await step(() => platform.renew(namespace, 'web-cert'), nextEvent(web, 'rotate', 30_000));
    } finally {
      running = false;
      await loop;
      await dispatcher.close();
      server.closeAllConnections();
      server.close();
      // Read before close(): a closed handle throws E_CLOSED.
      issuers = [api.current.info.issuer, web.current.info.issuer];
      await api.close();
      await web.close();
    }
    const newCa = new X509Certificate(platform.caPem); // the last leaves come from the new CA
    expect(platform.caHistory.length).toBeGreaterThan(1);
    expect(issuers[0]).toBe(newCa.subject);
    expect(issuers[1]).toBe(newCa.subject);
    expect(outcomes.length).toBeGreaterThan(50);
    expect(outcomes.filter((outcome) => outcome !== '200 web')).toEqual([]);
  });
});
