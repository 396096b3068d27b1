import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureServingCert, serviceDnsNames, silentLogger, type EnsureOptions, type ServingCert } from '@serving-cert/core';
import { CertificateAuthority, type LeafOptions } from '@serving-cert/core/pki';
import { writeAtomicVolume } from './atomicWriter.js';

/** A ServingCert on real, kubelet-style volumes in a temporary folder, with a handle to rotate it. */
export interface MountedServingCert {
  readonly cert: ServingCert;
  readonly ca: CertificateAuthority;
  readonly certDir: string;
  readonly caDir: string;
  /** Writes a new leaf (from `ca`, or the CA given) as kubelet would and resolves once `cert` serves it; returns its serial. */
  rotate(options?: LeafOptions & { ca?: CertificateAuthority }): Promise<string>;
  /** Closes `cert` and removes the folder. */
  close(): Promise<void>;
}

/**
 * Mounts a serving certificate for Service `serviceName` in `namespace`, as the platform would
 * issue it, into temporary volumes written by {@link writeAtomicVolume}, and opens it with
 * `ensureServingCert({ source: 'files' })`. For tests of servers and clients that use
 * serving-cert, with no cluster.
 */
export async function mountServingCert(options: {
  serviceName: string;
  namespace: string;
  ca?: CertificateAuthority;
  ensure?: Omit<EnsureOptions, 'source' | 'certDir' | 'caDir' | 'serviceName' | 'namespace'>;
}): Promise<MountedServingCert> {
  const { serviceName, namespace } = options;
  const ca = options.ca ?? CertificateAuthority.create({ commonName: 'testkit platform root CA' });
  const dnsNames = serviceDnsNames(serviceName, namespace);
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'serving-cert-mounted-'));
  const certDir = path.join(base, 'certs');
  const caDir = path.join(base, 'ca');
  const write = async (issuer: CertificateAuthority, leafOptions: LeafOptions = {}) => {
    const leaf = issuer.issue({ dnsNames, ...leafOptions });
    await writeAtomicVolume(certDir, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem });
    return leaf.leaf.serialNumber;
  };
  await write(ca);
  await writeAtomicVolume(caDir, { 'ca.crt': ca.certPem });
  let cert: ServingCert;
  try {
    cert = await ensureServingCert({ logger: silentLogger, annotate: false, ...options.ensure, source: 'files', certDir, caDir, serviceName, namespace });
  } catch (error) {
    await fs.rm(base, { recursive: true, force: true });
    throw error;
  }
  return {
    cert, ca, certDir, caDir,
    async rotate({ ca: issuer, ...leafOptions } = {}) {
      const rotated = new Promise<void>((resolve) => cert.once('rotate', () => resolve()));
      const serial = await write(issuer ?? ca, leafOptions);
      await rotated;
      return serial;
    },
    async close() {
      await cert.close();
      await fs.rm(base, { recursive: true, force: true });
    },
  };
}
