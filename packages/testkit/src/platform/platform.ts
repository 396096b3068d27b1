import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  loadAllYaml,
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type V1CustomResourceDefinition,
  type V1Namespace,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
import { CertificateAuthority, type KeyAlgorithm } from '@serving-cert/core/pki';
import { controlPlaneAssets } from '../controlPlane/assets.js';
import { parseGoDuration } from './goDuration.js';
import { WorkQueue } from './workQueue.js';

/** The platform's names (design section 3), fixed by the platform document. */
export const PLATFORM = {
  annotation: 'service.alauda.io/serving-cert-secret-name',
  issuerName: 'cpaas-ca',
  caSecretNamespace: 'cert-manager',
  caSecretName: 'service-root-ca',
  excludedNamespaces: ['kube-system', 'cpaas-system', 'cert-manager'],
} as const;

const CERT_MANAGER = { group: 'cert-manager.io', version: 'v1' } as const;
const COPY_LABELS = { 'app.kubernetes.io/managed-by': 'kyverno', 'generate.kyverno.io/policy-name': 'clone-ca-secret' };
const DAY_MS = 86_400_000;

/** Which parts of the platform run. Turning one off reproduces a cluster where it is missing. */
export interface PlatformPolicies {
  /** Kyverno clone-ca-secret: service-root-ca into every namespace but the excluded ones. Default true. */
  cloneCaSecret?: boolean;
  /** Kyverno sync-ca-rotation: copies follow the root CA. Default true. */
  syncCaRotation?: boolean;
  /** Kyverno generate-service-cert: annotated Service to Certificate. Default true. */
  generateServiceCert?: boolean;
}

/** Options of {@link startPlatform}. */
export interface PlatformOptions {
  policies?: PlatformPolicies;
  /** The ClusterIssuer at start: 'ready' (default), 'missing', or 'broken' (Ready=False). */
  issuer?: 'ready' | 'missing' | 'broken';
  /** Wait this long before issuing a certificate (a slow cert-manager). Default 0. */
  issuanceDelayMs?: number;
  /** Key algorithm of the platform CA. Default ecdsa-p256. */
  caKeyAlgorithm?: KeyAlgorithm;
  /** Progress and emulator actions. Default: silent. */
  log?: (message: string) => void;
}

/** The running platform emulator and its handles for tests. */
export interface Platform {
  /** The current platform root CA (certificate PEM). */
  readonly caPem: string;
  /** Every root CA so far, oldest first. */
  readonly caHistory: readonly string[];
  /** Re-issue a Certificate now (as `cmctl renew`): a new leaf with a new key. Resolves once the Secret holds it; returns its serial. */
  renew(namespace: string, name: string): Promise<string>;
  /** A new platform root CA: cert-manager/service-root-ca changes and every copy follows; leaves stay until renewed. */
  rotateCA(): Promise<void>;
  /** Delay every issuance by ms from now on. */
  setIssuanceDelay(ms: number): void;
  /** Make the ClusterIssuer missing, broken (Ready=False) or ready again. */
  setIssuer(state: 'ready' | 'missing' | 'broken'): Promise<void>;
  /** Resolves when the emulator has nothing queued: every event so far is handled. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

interface CertificateSpec {
  secretName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  commonName?: string;
  duration?: string;
  renewBefore?: string;
  issuerRef: { name: string; kind?: string; group?: string };
  privateKey?: { algorithm?: 'RSA' | 'ECDSA' | 'Ed25519'; size?: number; encoding?: 'PKCS1' | 'PKCS8' };
  usages?: string[];
}
interface Condition { type: string; status: 'True' | 'False' | 'Unknown'; reason: string; message: string; lastTransitionTime?: string; observedGeneration?: number }
interface Certificate extends KubernetesObject {
  spec: CertificateSpec;
  status?: { conditions?: Condition[]; notBefore?: string; notAfter?: string; renewalTime?: string; revision?: number };
}
interface ClusterIssuer extends KubernetesObject {
  spec: { ca?: { secretName: string } };
  status?: { conditions?: Condition[] };
}

/**
 * Plays the platform's documented part against a real API server (design section 3): the three
 * Kyverno policies of the platform document and cert-manager's CA issuer. Installs cert-manager's
 * real CRDs (read from its Go module by `npm run envtest:setup`), the `cpaas-ca` ClusterIssuer
 * and the CA Secret `cert-manager/service-root-ca`. Needs an admin KubeConfig.
 */
export async function startPlatform(kubeConfig: KubeConfig, options: PlatformOptions = {}): Promise<Platform> {
  const log = options.log ?? (() => {});
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const policies = { cloneCaSecret: true, syncCaRotation: true, generateServiceCert: true, ...options.policies };
  let issuanceDelayMs = options.issuanceDelayMs ?? 0;
  /** When each delayed issuance may happen; a timer queues it again then, so no delay blocks the queue. */
  const delayedUntil = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  const caHistory: string[] = [];
  let ca = CertificateAuthority.create({ commonName: 'cpaas platform root CA', keyAlgorithm: options.caKeyAlgorithm ?? 'ecdsa-p256' });
  caHistory.push(ca.certPem);
  const renewalTimers = new Map<string, NodeJS.Timeout>();
  const informers: Array<Informer<KubernetesObject>> = [];
  const caches = new Map<string, Map<string, KubernetesObject>>();
  let stopped = false;
  const queue = new WorkQueue((key, error) => log(`emulator: ${key} failed, retrying: ${describe(error)}`));

  await installCrds(kubeConfig, controlPlaneAssets().crdDir, ['cert-manager.io_certificates.yaml', 'cert-manager.io_clusterissuers.yaml', 'cert-manager.io_issuers.yaml', 'cert-manager.io_certificaterequests.yaml']);
  for (const namespace of PLATFORM.excludedNamespaces) await ensureNamespace(core, namespace);
  await writeRootCaSecret();
  await setIssuer(options.issuer ?? 'ready');

  // ---- what the emulator reacts to -----------------------------------------------------------
  const cached = <T extends KubernetesObject>(kind: string) => [...(caches.get(kind)?.values() ?? [])] as T[];
  const watch = <T extends KubernetesObject>(kind: string, pathName: string, list: () => Promise<{ items: T[] }>, onChange: (object: T, deleted: boolean) => void): void => {
    const cache = new Map<string, KubernetesObject>();
    caches.set(kind, cache);
    const informer = makeInformer(kubeConfig, pathName, list as never);
    const keyOf = (object: KubernetesObject) => `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
    informer.on('add', (object) => { cache.set(keyOf(object), object); onChange(object as T, false); });
    informer.on('update', (object) => { cache.set(keyOf(object), object); onChange(object as T, false); });
    informer.on('delete', (object) => { cache.delete(keyOf(object)); onChange(object as T, true); });
    // client-node's informer stops on a non-410 error until start() is called again.
    informer.on('error', () => {
      if (!stopped) setTimeout(() => { if (!stopped) void informer.start().catch(() => {}); }, 500).unref();
    });
    informers.push(informer);
  };

  watch<V1Namespace>('Namespace', '/api/v1/namespaces', () => core.listNamespace(), (namespace, deleted) => {
    if (!deleted) queue.add(`copy:${namespace.metadata!.name!}`, () => reconcileCaCopy(namespace.metadata!.name!));
  });
  watch<V1Secret>('Secret', '/api/v1/secrets', () => core.listSecretForAllNamespaces(), (secret) => {
    const { namespace, name } = secret.metadata ?? {};
    if (namespace === PLATFORM.caSecretNamespace && name === PLATFORM.caSecretName) {
      for (const ns of cached<V1Namespace>('Namespace')) queue.add(`copy:${ns.metadata!.name!}`, () => reconcileCaCopy(ns.metadata!.name!));
    } else if (name === PLATFORM.caSecretName && namespace) {
      queue.add(`copy:${namespace}`, () => reconcileCaCopy(namespace));
    }
    const certificateName = secret.metadata?.annotations?.['cert-manager.io/certificate-name'];
    if (namespace && certificateName) queue.add(`issue:${namespace}/${certificateName}`, () => reconcileCertificate(namespace, certificateName));
  });
  watch<V1Service>('Service', '/api/v1/services', () => core.listServiceForAllNamespaces(), (service, deleted) => {
    const { namespace, name } = service.metadata!;
    queue.add(`generate:${namespace!}/${name!}`, () => reconcileService(namespace!, name!, deleted ? undefined : service));
  });
  watch<Certificate>('Certificate', '/apis/cert-manager.io/v1/certificates',
    () => custom.listClusterCustomObject({ ...CERT_MANAGER, plural: 'certificates' }) as Promise<{ items: Certificate[] }>,
    (certificate, deleted) => {
      const { namespace, name } = certificate.metadata!;
      if (deleted) {
        clearTimeout(renewalTimers.get(`${namespace!}/${name!}`));
        renewalTimers.delete(`${namespace!}/${name!}`);
        // Kyverno's synchronize recreates a generated Certificate that someone deleted.
        const service = cached<V1Service>('Service').find((svc) => svc.metadata?.namespace === namespace && `${svc.metadata?.name ?? ''}-cert` === name);
        if (service) queue.add(`generate:${namespace!}/${service.metadata!.name!}`, () => reconcileService(namespace!, service.metadata!.name!, service));
        return;
      }
      queue.add(`issue:${namespace!}/${name!}`, () => reconcileCertificate(namespace!, name!));
    });
  watch<ClusterIssuer>('ClusterIssuer', '/apis/cert-manager.io/v1/clusterissuers',
    () => custom.listClusterCustomObject({ ...CERT_MANAGER, plural: 'clusterissuers' }) as Promise<{ items: ClusterIssuer[] }>,
    () => {
      for (const certificate of cached<Certificate>('Certificate')) {
        const { namespace, name } = certificate.metadata!;
        queue.add(`issue:${namespace!}/${name!}`, () => reconcileCertificate(namespace!, name!));
      }
    });
  for (const informer of informers) await informer.start();
  log('platform emulator running: Kyverno policies and cert-manager CA issuer');

  // ---- Kyverno: clone-ca-secret and sync-ca-rotation -----------------------------------------
  async function reconcileCaCopy(namespace: string): Promise<void> {
    if (!policies.cloneCaSecret || (PLATFORM.excludedNamespaces as readonly string[]).includes(namespace)) return;
    const exists = cached<V1Namespace>('Namespace').some((ns) => ns.metadata?.name === namespace && !ns.metadata.deletionTimestamp);
    if (!exists) return;
    const root = await core.readNamespacedSecret({ namespace: PLATFORM.caSecretNamespace, name: PLATFORM.caSecretName });
    const rootCa = root.data?.['ca.crt'];
    const copy = await readOrUndefined(() => core.readNamespacedSecret({ namespace, name: PLATFORM.caSecretName }));
    if (!copy) {
      await core.createNamespacedSecret({ namespace, body: {
        metadata: { name: PLATFORM.caSecretName, namespace, labels: { ...COPY_LABELS } },
        type: 'Opaque',
        data: rootCa ? { 'ca.crt': rootCa } : {},
      } });
      log(`kyverno clone-ca-secret: created ${namespace}/${PLATFORM.caSecretName}`);
      return;
    }
    const labelled = Object.entries(COPY_LABELS).every(([key, value]) => copy.metadata?.labels?.[key] === value);
    if (!policies.syncCaRotation || !labelled || copy.data?.['ca.crt'] === rootCa) return;
    copy.data = { ...copy.data, ...(rootCa ? { 'ca.crt': rootCa } : {}) };
    await core.replaceNamespacedSecret({ namespace, name: PLATFORM.caSecretName, body: copy });
    log(`kyverno sync-ca-rotation: updated ${namespace}/${PLATFORM.caSecretName}`);
  }

  // ---- Kyverno: generate-service-cert --------------------------------------------------------
  async function reconcileService(namespace: string, serviceName: string, service: V1Service | undefined): Promise<void> {
    if (!policies.generateServiceCert) return;
    const certificateName = `${serviceName}-cert`;
    const secretName = service?.metadata?.annotations?.[PLATFORM.annotation];
    const existing = await readOrUndefined(() => custom.getNamespacedCustomObject({ ...CERT_MANAGER, namespace, plural: 'certificates', name: certificateName }) as Promise<Certificate>);
    const generated = existing?.metadata?.labels?.['generate.kyverno.io/policy-name'] === 'generate-service-cert';
    if (!secretName) {
      // synchronize: true: the generated Certificate goes when its trigger no longer matches.
      if (existing && generated) {
        await custom.deleteNamespacedCustomObject({ ...CERT_MANAGER, namespace, plural: 'certificates', name: certificateName });
        log(`kyverno generate-service-cert: deleted ${namespace}/${certificateName}`);
      }
      return;
    }
    const spec: CertificateSpec = {
      secretName,
      issuerRef: { name: PLATFORM.issuerName, kind: 'ClusterIssuer' },
      dnsNames: [serviceName, `${serviceName}.${namespace}`, `${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.cluster.local`],
    };
    if (!existing) {
      await custom.createNamespacedCustomObject({ ...CERT_MANAGER, namespace, plural: 'certificates', body: {
        apiVersion: 'cert-manager.io/v1', kind: 'Certificate',
        metadata: { name: certificateName, namespace, labels: {
          'app.kubernetes.io/managed-by': 'kyverno',
          'generate.kyverno.io/policy-name': 'generate-service-cert',
          'generate.kyverno.io/rule-name': 'generate-cert',
          'generate.kyverno.io/trigger-kind': 'Service',
          'generate.kyverno.io/trigger-namespace': namespace,
          'generate.kyverno.io/trigger-name': serviceName,
        } },
        spec,
      } });
      log(`kyverno generate-service-cert: created ${namespace}/${certificateName} for Secret ${secretName}`);
    } else if (generated && JSON.stringify(pick(existing.spec)) !== JSON.stringify(pick(spec))) {
      existing.spec = { ...existing.spec, ...spec };
      await custom.replaceNamespacedCustomObject({ ...CERT_MANAGER, namespace, plural: 'certificates', name: certificateName, body: existing });
    }
  }

  // ---- cert-manager: the CA issuer -----------------------------------------------------------
  async function reconcileCertificate(namespace: string, name: string, force = false): Promise<void> {
    const certificate = await readOrUndefined(() => custom.getNamespacedCustomObject({ ...CERT_MANAGER, namespace, plural: 'certificates', name }) as Promise<Certificate>);
    if (!certificate) return;
    const { spec } = certificate;
    const issuerProblem = await issuerProblemFor(spec.issuerRef);
    const secret = await readOrUndefined(() => core.readNamespacedSecret({ namespace, name: spec.secretName }));
    const reason = force ? 'ManuallyTriggered' : whyIssue(spec, secret);
    if (!reason) {
      scheduleRenewal(namespace, name, secret!);
      if (!isReady(certificate)) await setStatus(certificate, ready(certificate, secret!));
      return;
    }
    const message = reason === 'DoesNotExist' ? 'Issuing certificate as Secret does not exist' : `Issuing certificate as ${reason}`;
    if (issuerProblem) {
      await setStatus(certificate, { conditions: [
        condition(certificate, 'Ready', 'False', reason, message),
        condition(certificate, 'Issuing', 'True', reason, issuerProblem),
      ] });
      return; // retried when the ClusterIssuer changes
    }
    if (!hasCondition(certificate, 'Issuing', 'True')) {
      await setStatus(certificate, { ...certificate.status, conditions: [
        condition(certificate, 'Ready', secret ? (isReady(certificate) ? 'True' : 'False') : 'False', isReady(certificate) && secret ? 'Ready' : reason, isReady(certificate) && secret ? 'Certificate is up to date and has not expired' : message),
        condition(certificate, 'Issuing', 'True', reason, message),
      ] });
    }
    const key = `${namespace}/${name}`;
    if (issuanceDelayMs > 0 && !force) {
      const delayed = delayedUntil.get(key);
      if (!delayed) {
        const timer = setTimeout(() => queue.add(`issue:${key}`, () => reconcileCertificate(namespace, name)), issuanceDelayMs);
        timer.unref();
        delayedUntil.set(key, { at: Date.now() + issuanceDelayMs, timer });
        return;
      }
      if (Date.now() < delayed.at) return;
    }
    const delayed = delayedUntil.get(key);
    clearTimeout(delayed?.timer);
    delayedUntil.delete(key);
    if (stopped) return;
    const issued = issue(spec);
    const body: V1Secret = {
      metadata: {
        name: spec.secretName, namespace,
        ...(secret?.metadata?.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
        labels: { ...secret?.metadata?.labels, 'controller.cert-manager.io/fao': 'true' },
        annotations: {
          ...secret?.metadata?.annotations,
          'cert-manager.io/alt-names': (spec.dnsNames ?? []).join(','),
          'cert-manager.io/certificate-name': name,
          'cert-manager.io/common-name': spec.commonName ?? '',
          'cert-manager.io/ip-sans': (spec.ipAddresses ?? []).join(','),
          'cert-manager.io/issuer-group': spec.issuerRef.group ?? 'cert-manager.io',
          'cert-manager.io/issuer-kind': spec.issuerRef.kind ?? 'Issuer',
          'cert-manager.io/issuer-name': spec.issuerRef.name,
          'cert-manager.io/uri-sans': '',
        },
      },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': b64(issued.certPem), 'tls.key': b64(issued.keyPem), 'ca.crt': b64(issued.caPem) },
    };
    const written = secret
      ? await core.replaceNamespacedSecret({ namespace, name: spec.secretName, body })
      : await core.createNamespacedSecret({ namespace, body });
    log(`cert-manager: issued ${namespace}/${name} into Secret ${spec.secretName} (serial ${issued.leaf.serialNumber}, ${reason})`);
    const fresh = await custom.getNamespacedCustomObject({ ...CERT_MANAGER, namespace, plural: 'certificates', name }) as Certificate;
    await setStatus(fresh, { ...ready(fresh, written), revision: (fresh.status?.revision ?? 0) + 1 });
    scheduleRenewal(namespace, name, written);
  }

  function issue(spec: CertificateSpec) {
    const durationMs = spec.duration ? parseGoDuration(spec.duration) : 90 * DAY_MS;
    const algorithm = keyAlgorithmOf(spec.privateKey);
    const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
    // cert-manager writes PKCS#1 for RSA and SEC1 for ECDSA by default, PKCS#8 when asked
    // (and always for Ed25519); a new key on every issuance (rotationPolicy Always).
    const keyEncoding = spec.privateKey?.encoding === 'PKCS8' || algorithm === 'ed25519' ? 'pkcs8' : algorithm.startsWith('rsa') ? 'pkcs1' : 'sec1';
    return ca.issue({
      dnsNames: spec.dnsNames ?? [],
      ipAddresses: spec.ipAddresses ?? [],
      // As the real controller: no commonName in the spec means an empty subject, and no
      // usages means no extendedKeyUsage extension (keyUsage digitalSignature, keyEncipherment).
      ...(spec.commonName ? { commonName: spec.commonName } : {}),
      extendedKeyUsage: extendedKeyUsagesOf(spec.usages),
      keyAlgorithm: algorithm,
      keyEncoding,
      notBefore,
      notAfter: new Date(notBefore.getTime() + durationMs),
    });
  }

  function whyIssue(spec: CertificateSpec, secret: V1Secret | undefined): string | undefined {
    const certPem = secret?.data?.['tls.crt'];
    if (!secret || !certPem || !secret.data?.['tls.key']) return 'DoesNotExist';
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(Buffer.from(certPem, 'base64'));
    } catch {
      return 'InvalidCertificate';
    }
    const names = leaf.subjectAltName?.split(', ').filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4)) ?? [];
    if (JSON.stringify([...names].sort()) !== JSON.stringify([...(spec.dnsNames ?? [])].sort())) return 'SecretMismatch';
    if (secret.metadata?.annotations?.['cert-manager.io/issuer-name'] !== spec.issuerRef.name) return 'IncorrectIssuer';
    if (Date.now() >= renewalTimeOf(spec, leaf).getTime()) return 'Renewing';
    return undefined;
  }

  function renewalTimeOf(spec: CertificateSpec, leaf: X509Certificate): Date {
    const notBefore = new Date(leaf.validFrom).getTime();
    const notAfter = new Date(leaf.validTo).getTime();
    // cert-manager renews at 2/3 of the lifetime unless renewBefore says otherwise.
    const renewBefore = spec.renewBefore ? parseGoDuration(spec.renewBefore) : (notAfter - notBefore) / 3;
    return new Date(notAfter - renewBefore);
  }

  function scheduleRenewal(namespace: string, name: string, secret: V1Secret): void {
    const key = `${namespace}/${name}`;
    clearTimeout(renewalTimers.get(key));
    const certificate = cached<Certificate>('Certificate').find((c) => c.metadata?.namespace === namespace && c.metadata.name === name);
    const certPem = secret.data?.['tls.crt'];
    if (!certificate || !certPem || stopped) return;
    const at = renewalTimeOf(certificate.spec, new X509Certificate(Buffer.from(certPem, 'base64')));
    const timer = setTimeout(() => queue.add(`issue:${key}`, () => reconcileCertificate(namespace, name)), Math.min(Math.max(0, at.getTime() - Date.now()), 2 ** 31 - 1));
    timer.unref();
    renewalTimers.set(key, timer);
  }

  function ready(certificate: Certificate, secret: V1Secret): NonNullable<Certificate['status']> {
    const leaf = new X509Certificate(Buffer.from(secret.data!['tls.crt']!, 'base64'));
    return {
      ...certificate.status,
      conditions: [condition(certificate, 'Ready', 'True', 'Ready', 'Certificate is up to date and has not expired')],
      notBefore: new Date(leaf.validFrom).toISOString(),
      notAfter: new Date(leaf.validTo).toISOString(),
      renewalTime: renewalTimeOf(certificate.spec, leaf).toISOString(),
    };
  }

  async function setStatus(certificate: Certificate, status: NonNullable<Certificate['status']>): Promise<void> {
    const { namespace, name } = certificate.metadata!;
    await custom.replaceNamespacedCustomObjectStatus({ ...CERT_MANAGER, namespace: namespace!, plural: 'certificates', name: name!, body: { ...certificate, status } });
  }

  async function issuerProblemFor(ref: CertificateSpec['issuerRef']): Promise<string | undefined> {
    if (ref.kind !== 'ClusterIssuer') return `Referenced "${ref.kind ?? 'Issuer'}" not found: the emulator serves ClusterIssuer ${PLATFORM.issuerName} only`;
    const issuer = await readOrUndefined(() => custom.getClusterCustomObject({ ...CERT_MANAGER, plural: 'clusterissuers', name: ref.name }) as Promise<ClusterIssuer>);
    if (!issuer) return `Referenced "ClusterIssuer" not found: clusterissuer.cert-manager.io "${ref.name}" not found`;
    if (!hasCondition(issuer, 'Ready', 'True')) return 'Referenced issuer does not have a Ready status condition';
    return undefined;
  }

  // ---- the platform CA and its issuer --------------------------------------------------------
  async function writeRootCaSecret(): Promise<void> {
    const data = { 'tls.crt': b64(ca.certPem), 'tls.key': b64(ca.keyPem), 'ca.crt': b64(ca.certPem) };
    const existing = await readOrUndefined(() => core.readNamespacedSecret({ namespace: PLATFORM.caSecretNamespace, name: PLATFORM.caSecretName }));
    if (existing) {
      await core.replaceNamespacedSecret({ namespace: PLATFORM.caSecretNamespace, name: PLATFORM.caSecretName, body: { ...existing, data } });
    } else {
      await core.createNamespacedSecret({ namespace: PLATFORM.caSecretNamespace, body: {
        metadata: { name: PLATFORM.caSecretName, namespace: PLATFORM.caSecretNamespace }, type: 'kubernetes.io/tls', data,
      } });
    }
  }

  async function setIssuer(state: 'ready' | 'missing' | 'broken'): Promise<void> {
    const existing = await readOrUndefined(() => custom.getClusterCustomObject({ ...CERT_MANAGER, plural: 'clusterissuers', name: PLATFORM.issuerName }) as Promise<ClusterIssuer>);
    if (state === 'missing') {
      if (existing) await custom.deleteClusterCustomObject({ ...CERT_MANAGER, plural: 'clusterissuers', name: PLATFORM.issuerName });
      return;
    }
    const issuer = existing ?? await custom.createClusterCustomObject({ ...CERT_MANAGER, plural: 'clusterissuers', body: {
      apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer',
      metadata: { name: PLATFORM.issuerName },
      spec: { ca: { secretName: PLATFORM.caSecretName } },
    } }) as ClusterIssuer;
    const status = state === 'ready'
      ? condition(issuer, 'Ready', 'True', 'KeyPairVerified', 'Signing CA verified')
      : condition(issuer, 'Ready', 'False', 'ErrGetKeyPair', `Error getting keypair for CA issuer: secrets "${PLATFORM.caSecretName}" is forbidden`);
    await custom.replaceClusterCustomObjectStatus({ ...CERT_MANAGER, plural: 'clusterissuers', name: PLATFORM.issuerName, body: { ...issuer, status: { conditions: [status] } } });
  }

  return {
    get caPem() {
      return ca.certPem;
    },
    get caHistory() {
      return [...caHistory];
    },
    async renew(namespace, name) {
      await queue.idle();
      await reconcileCertificate(namespace, name, true);
      const certificate = await custom.getNamespacedCustomObject({ ...CERT_MANAGER, namespace, plural: 'certificates', name }) as Certificate;
      const secret = await core.readNamespacedSecret({ namespace, name: certificate.spec.secretName });
      return new X509Certificate(Buffer.from(secret.data!['tls.crt']!, 'base64')).serialNumber;
    },
    async rotateCA() {
      ca = CertificateAuthority.create({ commonName: `cpaas platform root CA ${caHistory.length + 1}`, keyAlgorithm: options.caKeyAlgorithm ?? 'ecdsa-p256' });
      caHistory.push(ca.certPem);
      await writeRootCaSecret();
      log('platform: rotated the root CA');
    },
    setIssuanceDelay(ms) {
      issuanceDelayMs = ms;
      if (ms > 0) return;
      // Issue at once what was waiting for the old delay.
      for (const [key, { timer }] of delayedUntil) {
        clearTimeout(timer);
        delayedUntil.delete(key);
        const [namespace, name] = key.split('/') as [string, string];
        queue.add(`issue:${key}`, () => reconcileCertificate(namespace, name));
      }
    },
    setIssuer,
    async settled() {
      await new Promise((resolve) => setTimeout(resolve, 50)); // let watch events arrive
      await queue.idle();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      queue.stop();
      for (const timer of renewalTimers.values()) clearTimeout(timer);
      for (const { timer } of delayedUntil.values()) clearTimeout(timer);
      await Promise.allSettled(informers.map((informer) => informer.stop()));
    },
  };
}

/** cert-manager's `usages` that become extendedKeyUsage; the others are keyUsage bits. */
function extendedKeyUsagesOf(usages: string[] | undefined): Array<'serverAuth' | 'clientAuth'> {
  const extended: Array<'serverAuth' | 'clientAuth'> = [];
  if (usages?.includes('server auth')) extended.push('serverAuth');
  if (usages?.includes('client auth')) extended.push('clientAuth');
  return extended;
}

function keyAlgorithmOf(privateKey: CertificateSpec['privateKey']): KeyAlgorithm {
  switch (privateKey?.algorithm ?? 'RSA') {
    case 'ECDSA':
      return privateKey?.size === 384 ? 'ecdsa-p384' : 'ecdsa-p256';
    case 'Ed25519':
      return 'ed25519';
    default:
      return privateKey?.size === 4096 ? 'rsa-4096' : privateKey?.size === 3072 ? 'rsa-3072' : 'rsa-2048';
  }
}

function pick(spec: CertificateSpec) {
  return { secretName: spec.secretName, issuerRef: spec.issuerRef, dnsNames: spec.dnsNames };
}

function condition(object: KubernetesObject & { status?: { conditions?: Condition[] } }, type: string, status: Condition['status'], reason: string, message: string): Condition {
  const previous = object.status?.conditions?.find((c) => c.type === type);
  return {
    type, status, reason, message,
    lastTransitionTime: previous?.status === status && previous.lastTransitionTime ? previous.lastTransitionTime : new Date().toISOString(),
    ...(object.metadata?.generation ? { observedGeneration: object.metadata.generation } : {}),
  };
}

function hasCondition(object: { status?: { conditions?: Condition[] } }, type: string, status: Condition['status']): boolean {
  return object.status?.conditions?.some((c) => c.type === type && c.status === status) ?? false;
}

function isReady(certificate: Certificate): boolean {
  return hasCondition(certificate, 'Ready', 'True');
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function describe(error: unknown): string {
  const body = (error as { body?: unknown } | null)?.body;
  return typeof body === 'string' ? body.slice(0, 300) : String(error);
}

async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === 404) return undefined;
    throw error;
  }
}

async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 409) throw error;
  }
}

/** Creates CRDs from files (or leaves existing ones) and waits until each is Established. */
export async function installCrds(kubeConfig: KubeConfig, crdDir: string, files: readonly string[]): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const names: string[] = [];
  for (const file of files) {
    for (const document of loadAllYaml(await fs.readFile(path.join(crdDir, file), 'utf8')) as V1CustomResourceDefinition[]) {
      if (document?.kind !== 'CustomResourceDefinition') continue;
      names.push(document.metadata!.name!);
      try {
        await api.createCustomResourceDefinition({ body: document });
      } catch (error) {
        if ((error as { code?: unknown } | null)?.code !== 409) throw error;
      }
    }
  }
  const deadline = Date.now() + 30_000;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not Established after 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
