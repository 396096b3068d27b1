// A TypeScript consumer of the packed tarballs: type-checked (tsc --noEmit) under
// moduleResolution node16 and bundler by scripts/check-packages.mjs. Every entry point of every
// published package is imported and used in a typed position.
import express from 'express';
import Fastify from 'fastify';
import { ensureServingCert, isServingCertError, createMtlsDispatcher, type EnsureOptions, type ServingCert } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { createAdmissionHandler } from '@serving-cert/core/webhook';
import { createHttpsServer, requirePeer } from '@serving-cert/express';
import { servingCert } from '@serving-cert/fastify';
import { setupEnvtest, startControlPlane, TestkitError, type ControlPlane, type TestkitErrorCode } from '@serving-cert/testkit';

const options: EnsureOptions = { source: 'local', serviceName: 'orders', namespace: 'shop' };
export async function serve(): Promise<void> {
  const cert: ServingCert = await ensureServingCert(options);
  createHttpsServer(express().get('/', requirePeer(), (_req, res) => res.send('ok')), cert).listen(8443);
  const app = Fastify();
  await app.register(servingCert, { cert });
  const dispatcher = createMtlsDispatcher(cert);
  await dispatcher.close();
}
export const ca: string = CertificateAuthority.create({ commonName: 'consumer' }).certPem;
export const handler: unknown = createAdmissionHandler;
export const errors: boolean = isServingCertError(new Error('x'));
export async function testkit(): Promise<string> {
  await setupEnvtest({ platform: false });
  const plane: ControlPlane = await startControlPlane();
  await plane.stop();
  const code: TestkitErrorCode | undefined = new TestkitError('E_ASSETS_MISSING', 'x').code;
  return `${plane.server} ${code}`;
}
