import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { ClientRequest } from 'node:http';
import * as https from 'node:https';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ApiextensionsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  loadAllYaml,
  type KubeConfig,
  type KubernetesObject,
  type V1CustomResourceDefinition,
  type V1Secret,
} from '@kubernetes/client-node';
import { CertificateAuthority, type KeyAlgorithm } from '@serving-cert/core/pki';
import { freePorts, launch, terminate, waitUntil, type ControlPlaneClient, type Launched } from '../controlPlane/controlPlane.js';
import { startSupervisor } from '../controlPlane/startSupervisor.js';
import { platformAssets } from './assets.js';
import { aggregateClusterRoles, applyCertManagerRbac, IDENTITIES, serviceAccountUser } from './rbac.js';
import { TestkitError } from '../errors.js';

/** The platform's names (design section 3), fixed by the platform document. */
export const PLATFORM = {
  annotation: 'service.alauda.io/serving-cert-secret-name',
  issuerName: 'cpaas-ca',
  caSecretNamespace: 'cert-manager',
  caSecretName: 'service-root-ca',
  excludedNamespaces: ['kube-system', 'cpaas-system', 'cert-manager'],
} as const;

/** The seed's three Kyverno ClusterPolicies (deploy/platform/kyverno-policies.yaml), by option name. */
export const PLATFORM_POLICIES = {
  cloneCaSecret: 'clone-ca-secret',
  syncCaRotation: 'sync-ca-rotation',
  generateServiceCert: 'generate-service-cert',
} as const;

const CERT_MANAGER = { group: 'cert-manager.io', version: 'v1' } as const;
const KYVERNO = { group: 'kyverno.io', version: 'v1' } as const;

/** Which of the seed's policies are installed. Leaving one out reproduces a cluster where it is missing. */
export interface PlatformPolicies {
  /** Kyverno clone-ca-secret: service-root-ca into every namespace but the excluded ones. Default true. */
  cloneCaSecret?: boolean;
  /** Kyverno sync-ca-rotation: copies follow the root CA. Default true. */
  syncCaRotation?: boolean;
  /** Kyverno generate-service-cert: annotated Service to Certificate. Default true. */
  generateServiceCert?: boolean;
}

/** The ClusterIssuer `cpaas-ca`: as it should be, deleted, or with an empty `tls.key` in its CA Secret (Ready=False). */
export type IssuerState = 'ready' | 'missing' | 'broken';

/** Options of {@link connectToPlatform} (and of {@link startPlatform}). */
export interface PlatformClientOptions {
  /** Key algorithm of the platform root CAs that {@link PlatformClient.rotateCA} makes. Default ecdsa-p256. */
  caKeyAlgorithm?: KeyAlgorithm;
  /**
   * The folder with the platform's manifests, kyverno-policies.yaml and kyverno-rbac.yaml.
   * Default: the ones @serving-cert/core ships (its copy of the repository's deploy/platform).
   */
  manifestsDir?: string;
  /** How long a handle waits for the controllers (renew, setIssuer, setPolicies). Default 60 s. */
  timeoutMs?: number;
}

/** Options of {@link startPlatform}. */
export interface PlatformOptions extends PlatformClientOptions {
  policies?: PlatformPolicies;
  /** The ClusterIssuer at start. Default 'ready'. */
  issuer?: IssuerState;
  /** How long to wait for each controller to be ready. Default 120 s (2 cores). */
  startTimeoutMs?: number;
  /**
   * cert-manager's first retry delay after a failed issuance (its default is 1 h, then doubling
   * up to 32 h). Default 1 h, as in a cluster.
   */
  certificateRequestBackoffMs?: number;
  /** Progress lines ("Kyverno ready after 9.1 s"). Default: stderr. */
  log?: (message: string) => void;
}

/** Handles on the running platform that tests use; any process with an admin KubeConfig may hold one. */
export interface PlatformClient {
  /** The current platform root CA (certificate PEM), as this handle last wrote or read it. */
  readonly caPem: string;
  /** Every root CA this handle has seen, oldest first. */
  readonly caHistory: readonly string[];
  /**
   * Re-issue a Certificate now, as `cmctl renew` does: its Issuing condition set to True with
   * reason ManuallyTriggered. Resolves with the new leaf's serial once cert-manager has written
   * it into the Secret and finished the issuance (the Issuing condition is gone).
   */
  renew(namespace: string, name: string): Promise<string>;
  /**
   * A new platform root CA: `cert-manager/service-root-ca` is replaced; Kyverno's
   * sync-ca-rotation updates every copy; issued leaves stay until renewed. Resolves once written.
   */
  rotateCA(): Promise<void>;
  /** Makes the ClusterIssuer missing, broken or ready, and waits until cert-manager shows it. */
  setIssuer(state: IssuerState): Promise<void>;
  /** Installs or deletes the seed's policies (unnamed ones stay as they are) and waits until Kyverno shows it. */
  setPolicies(policies: PlatformPolicies): Promise<void>;
}

/** The real platform: cert-manager and Kyverno running against a control plane. */
export interface Platform extends PlatformClient {
  /** Milliseconds from startPlatform() to a platform that issues. */
  readonly startMs: number;
  /** The folder with each controller's log (removed by stop()). */
  readonly logDir: string;
  /** Ends every process it started and removes its files. Safe to call twice. */
  stop(): Promise<void>;
}

interface Condition { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string; observedGeneration?: number }
interface WithConditions extends KubernetesObject { status?: { conditions?: Condition[] } }
interface Certificate extends WithConditions { spec: { secretName: string }; status?: { conditions?: Condition[]; revision?: number } }

/**
 * Starts the real platform on a control plane: cert-manager's controller and Kyverno's admission
 * and background controllers, built by `npx serving-cert-envtest` from the go/platform module. Installs the
 * full cert-manager and Kyverno CRD sets, Kyverno's namespace, ConfigMaps and RBAC from its
 * module, cert-manager's RBAC, `deploy/platform/*.yaml` exactly as shipped, and aggregates the
 * ClusterRoles once (there is no controller manager). Each controller authenticates with a client
 * certificate of its real service account, so RBAC is exercised. Creates the platform root CA
 * `cert-manager/service-root-ca` and the ClusterIssuer `cpaas-ca`; resolves once the issuer is
 * Ready, Kyverno answers `/health/readiness`, the policies are Ready and a new namespace got its
 * `service-root-ca` copy.
 */
export async function startPlatform(controlPlane: ControlPlaneClient, options: PlatformOptions = {}): Promise<Platform> {
  const started = Date.now();
  const log = options.log ?? ((message: string) => process.stderr.write(`testkit: ${message}\n`));
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const since = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const assets = platformAssets();
  const manifestsDir = options.manifestsDir ?? shippedManifestsDir();
  const admin = controlPlane.kubeConfig;
  // As for the control plane: should this process die without stop(), a supervisor process
  // kills the controllers and removes their folder.
  const supervisor = await startSupervisor(path.join(os.tmpdir(), 'serving-cert-platform-'), timeoutMs);
  const dir = supervisor.dir;
  const launched: Launched[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const process of [...launched].reverse()) await terminate(process.child);
      await fs.rm(dir, { recursive: true, force: true });
      await supervisor.release();
    })();
    return stopping;
  };

  try {
    // ---- what a cluster has before the controllers run --------------------------------------
    const crdFiles = (await fs.readdir(assets.crdDir)).filter((file) => file.endsWith('.yaml') && file !== 'kyverno-install.yaml');
    await installCrds(admin, assets.crdDir, crdFiles);
    log(`platform: ${crdFiles.length} CRDs established after ${since()}`);
    const core = admin.makeApiClient(CoreV1Api);
    for (const namespace of PLATFORM.excludedNamespaces) await ensureNamespace(core, namespace);
    await createAll(admin, loadAllYaml(await fs.readFile(path.join(assets.crdDir, 'kyverno-install.yaml'), 'utf8')) as KubernetesObject[]);
    await ignoreConflict(core.createNamespacedServiceAccount({ namespace: IDENTITIES.certManager.namespace, body: { metadata: { name: IDENTITIES.certManager.serviceAccount } } }));
    await applyCertManagerRbac(admin);
    await createAll(admin, loadAllYaml(await fs.readFile(path.join(manifestsDir, 'kyverno-rbac.yaml'), 'utf8')) as KubernetesObject[]);
    await aggregateClusterRoles(admin);

    const client = await platformClient(admin, options, CertificateAuthority.create({ commonName: rootCaName(), keyAlgorithm: options.caKeyAlgorithm ?? 'ecdsa-p256' }));
    const issuerState = options.issuer ?? 'ready';
    await client.writeIssuer(issuerState);

    // ---- the controllers, each as its service account ---------------------------------------
    const kubeconfigFor = async (identity: { namespace: string; serviceAccount: string }) => {
      const user = serviceAccountUser(identity);
      const file = path.join(dir, `${identity.serviceAccount}.kubeconfig`);
      await fs.writeFile(file, controlPlane.addUser(user.name, user.groups).exportConfig(), { mode: 0o600 });
      return file;
    };
    const [webhookPort, admissionMetricsPort, backgroundMetricsPort] = await freePorts(3);
    const baseEnv = { PATH: process.env.PATH ?? '', HOME: dir, TUF_ROOT: path.join(dir, 'sigstore'), KYVERNO_NAMESPACE: 'kyverno', INIT_CONFIG: 'kyverno', METRICS_CONFIG: 'kyverno-metrics' };

    const certManager = launch('cert-manager', assets.certManagerController, [
      `--kubeconfig=${await kubeconfigFor(IDENTITIES.certManager)}`,
      `--cluster-resource-namespace=${PLATFORM.caSecretNamespace}`,
      `--certificate-request-minimum-backoff-duration=${options.certificateRequestBackoffMs ?? 3_600_000}ms`,
      '--v=2',
    ], dir, supervisor, { PATH: baseEnv.PATH, HOME: dir });
    launched.push(certManager);

    const kyverno = launch('kyverno-admission-controller', assets.kyverno, [
      `--kubeconfig=${await kubeconfigFor(IDENTITIES.kyvernoAdmission)}`,
      // Webhooks registered by URL (127.0.0.1), not through a Service: no kube-proxy here.
      `--serverIP=127.0.0.1:${webhookPort}`,
      '--webhookServerHost=127.0.0.1',
      `--webhookServerPort=${webhookPort}`,
      '--caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca',
      '--tlsSecretName=kyverno-svc.kyverno.svc.kyverno-tls-pair',
      `--backgroundServiceAccountName=${serviceAccountUser(IDENTITIES.kyvernoBackground).name}`,
      ...kyvernoCommonFlags(admissionMetricsPort!),
      '--admissionReports=false',
    ], dir, supervisor, {
      ...baseEnv,
      KYVERNO_SERVICEACCOUNT_NAME: IDENTITIES.kyvernoAdmission.serviceAccount,
      KYVERNO_ROLE_NAME: 'kyverno:admission-controller',
      KYVERNO_DEPLOYMENT: 'kyverno-admission-controller',
      KYVERNO_POD_NAME: 'kyverno-admission-controller-testkit',
      KYVERNO_SVC: 'kyverno-svc',
    });
    launched.push(kyverno);

    const background = launch('kyverno-background-controller', assets.backgroundController, [
      `--kubeconfig=${await kubeconfigFor(IDENTITIES.kyvernoBackground)}`,
      ...kyvernoCommonFlags(backgroundMetricsPort!),
    ], dir, supervisor, {
      ...baseEnv,
      KYVERNO_SERVICEACCOUNT_NAME: IDENTITIES.kyvernoBackground.serviceAccount,
      KYVERNO_DEPLOYMENT: 'kyverno-background-controller',
      KYVERNO_POD_NAME: 'kyverno-background-controller-testkit',
    });
    launched.push(background);

    const custom = admin.makeApiClient(CustomObjectsApi);
    const coordination = admin.makeApiClient(CoordinationV1Api);
    if (issuerState !== 'missing') {
      await waitUntil(`cert-manager (ClusterIssuer ${PLATFORM.issuerName} ${issuerState === 'ready' ? 'Ready' : 'Ready=False'}; log: ${certManager.logFile})`, certManager, timeoutMs,
        async () => conditionOf(await readOrUndefined(() => custom.getClusterCustomObject({ ...CERT_MANAGER, plural: 'clusterissuers', name: PLATFORM.issuerName }) as Promise<WithConditions>), 'Ready') === (issuerState === 'ready' ? 'True' : 'False'));
      log(`platform: cert-manager ${assets.versions.certManager} running, ClusterIssuer ${PLATFORM.issuerName} ${issuerState} after ${since()}`);
    }
    // Kyverno registers its webhooks before its TLS pair exists: readiness says when it serves.
    await waitUntil(`Kyverno's admission controller (log: ${kyverno.logFile})`, kyverno, timeoutMs, () => kyvernoReady(core, webhookPort!));
    log(`platform: Kyverno ${assets.versions.kyverno} admission controller ready on 127.0.0.1:${webhookPort} after ${since()}`);
    await waitUntil(`Kyverno's background controller (log: ${background.logFile})`, background, timeoutMs,
      async () => Boolean((await readOrUndefined(() => coordination.readNamespacedLease({ namespace: 'kyverno', name: 'kyverno-background-controller' })))?.spec?.holderIdentity));
    log(`platform: Kyverno background controller leading after ${since()}`);

    await client.setPolicies({ cloneCaSecret: true, syncCaRotation: true, generateServiceCert: true, ...options.policies });
    log(`platform: policies Ready after ${since()}`);
    if (options.policies?.cloneCaSecret !== false) {
      // End to end: a new namespace gets its copy of the root CA through both Kyverno controllers.
      const probe = `testkit-platform-${randomBytes(3).toString('hex')}`;
      await core.createNamespace({ body: { metadata: { name: probe } } });
      await waitUntil(`service-root-ca in a new namespace (logs: ${kyverno.logFile}, ${background.logFile})`, background, timeoutMs,
        async () => Boolean((await readOrUndefined(() => core.readNamespacedSecret({ namespace: probe, name: PLATFORM.caSecretName })))?.data?.['ca.crt']));
      await core.deleteNamespace({ name: probe });
    }
    const startMs = Date.now() - started;
    log(`platform: cert-manager and Kyverno running after ${since()} (logs in ${dir})`);

    return {
      get caPem() {
        return client.caPem;
      },
      get caHistory() {
        return client.caHistory;
      },
      renew: (namespace, name) => client.renew(namespace, name),
      rotateCA: () => client.rotateCA(),
      setIssuer: (state) => client.setIssuer(state),
      setPolicies: (policies) => client.setPolicies(policies),
      startMs,
      logDir: dir,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function kyvernoCommonFlags(metricsPort: number): string[] {
  return [
    // Both Kyverno binaries bind :8000 and :8080 by default: a free port each, or the second exits.
    '--metricsHost=127.0.0.1',
    `--metricsPort=${metricsPort}`,
    '--controllerRuntimeMetricsAddress=0',
    '--enableReporting=',
    '--autoMemLimitEnabled=false',
    '--disableLogColor',
    '--loggingFormat=text',
  ];
}

/**
 * Handles on a platform started elsewhere (a vitest global setup): reads the current root CA
 * from the cluster. Needs an admin KubeConfig.
 */
export async function connectToPlatform(kubeConfig: KubeConfig, options: PlatformClientOptions = {}): Promise<PlatformClient> {
  return platformClient(kubeConfig, options);
}

async function platformClient(kubeConfig: KubeConfig, options: PlatformClientOptions, initialCa?: CertificateAuthority) {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const manifestsDir = options.manifestsDir ?? shippedManifestsDir();
  const caHistory: string[] = [];
  let ca: CertificateAuthority | undefined = initialCa;
  let caPem: string;
  if (initialCa) {
    caPem = initialCa.certPem;
  } else {
    const root = await core.readNamespacedSecret({ namespace: PLATFORM.caSecretNamespace, name: PLATFORM.caSecretName });
    caPem = Buffer.from(root.data?.['ca.crt'] ?? root.data?.['tls.crt'] ?? '', 'base64').toString();
  }
  caHistory.push(caPem);

  const readCertificate = (namespace: string, name: string) => custom.getNamespacedCustomObject({ ...CERT_MANAGER, namespace, plural: 'certificates', name }) as Promise<Certificate>;
  const readIssuer = () => readOrUndefined(() => custom.getClusterCustomObject({ ...CERT_MANAGER, plural: 'clusterissuers', name: PLATFORM.issuerName }) as Promise<WithConditions>);
  const serialOf = (secret: V1Secret | undefined) => {
    const pem = secret?.data?.['tls.crt'];
    return pem ? new X509Certificate(Buffer.from(pem, 'base64')).serialNumber : undefined;
  };

  /**
   * The root CA Secret: with its key ('ready'), or with an empty `tls.key` so that the CA issuer
   * cannot load it ('broken'; a kubernetes.io/tls Secret must have the key, empty or not).
   */
  async function writeRootCaSecret(withKey: boolean): Promise<void> {
    const existing = await readOrUndefined(() => core.readNamespacedSecret({ namespace: PLATFORM.caSecretNamespace, name: PLATFORM.caSecretName }));
    if (!ca && withKey && existing?.data?.['tls.key']) return; // another handle made it: leave it
    if (!ca && withKey) throw new TestkitError('E_USAGE', `${PLATFORM.caSecretNamespace}/${PLATFORM.caSecretName} has no tls.key and this handle does not hold the CA key: call rotateCA() instead`);
    const data: Record<string, string> = { 'tls.crt': b64(caPem), 'ca.crt': b64(caPem), 'tls.key': withKey ? b64(ca!.keyPem) : '' };
    if (existing) {
      await core.replaceNamespacedSecret({ namespace: PLATFORM.caSecretNamespace, name: PLATFORM.caSecretName, body: { ...existing, data } });
    } else {
      await core.createNamespacedSecret({ namespace: PLATFORM.caSecretNamespace, body: {
        metadata: { name: PLATFORM.caSecretName, namespace: PLATFORM.caSecretNamespace }, type: 'kubernetes.io/tls', data,
      } });
    }
  }

  /** Writes the issuer's objects for a state without waiting for cert-manager. */
  async function writeIssuer(state: IssuerState): Promise<void> {
    if (state === 'missing') {
      await ignoreNotFound(custom.deleteClusterCustomObject({ ...CERT_MANAGER, plural: 'clusterissuers', name: PLATFORM.issuerName }));
      return;
    }
    if (state === 'broken') {
      // Keep the CA certificate: only its key goes, so the CA issuer's setup fails (ErrGetKeyPair).
      const existing = await core.readNamespacedSecret({ namespace: PLATFORM.caSecretNamespace, name: PLATFORM.caSecretName }).catch(() => undefined);
      if (existing?.data?.['tls.key'] && !ca) {
        ca = CertificateAuthority.fromPem(Buffer.from(existing.data['tls.crt']!, 'base64').toString(), Buffer.from(existing.data['tls.key'], 'base64').toString());
      }
    }
    await writeRootCaSecret(state === 'ready');
    if (!(await readIssuer())) {
      await ignoreConflict(custom.createClusterCustomObject({ ...CERT_MANAGER, plural: 'clusterissuers', body: {
        apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer',
        metadata: { name: PLATFORM.issuerName },
        spec: { ca: { secretName: PLATFORM.caSecretName } },
      } }));
    }
  }

  async function setIssuer(state: IssuerState): Promise<void> {
    await writeIssuer(state);
    await poll(`ClusterIssuer ${PLATFORM.issuerName} ${state}`, timeoutMs, async () => {
      const issuer = await readIssuer();
      if (state === 'missing') return !issuer;
      return conditionOf(issuer, 'Ready') === (state === 'ready' ? 'True' : 'False');
    });
  }

  async function setPolicies(policies: PlatformPolicies): Promise<void> {
    const documents = loadAllYaml(await fs.readFile(path.join(manifestsDir, 'kyverno-policies.yaml'), 'utf8')) as WithConditions[];
    for (const [option, name] of Object.entries(PLATFORM_POLICIES) as Array<[keyof PlatformPolicies, string]>) {
      const wanted = policies[option];
      if (wanted === undefined) continue;
      if (wanted) {
        const policy = documents.find((document) => document?.kind === 'ClusterPolicy' && document.metadata?.name === name);
        if (!policy) throw new TestkitError('E_USAGE', `${path.join(manifestsDir, 'kyverno-policies.yaml')} has no ClusterPolicy ${name}`);
        await ignoreConflict(custom.createClusterCustomObject({ ...KYVERNO, plural: 'clusterpolicies', body: policy }));
        await poll(`ClusterPolicy ${name} Ready`, timeoutMs, async () => conditionOf(await readOrUndefined(() => custom.getClusterCustomObject({ ...KYVERNO, plural: 'clusterpolicies', name }) as Promise<WithConditions>), 'Ready') === 'True');
      } else {
        await ignoreNotFound(custom.deleteClusterCustomObject({ ...KYVERNO, plural: 'clusterpolicies', name }));
        await poll(`ClusterPolicy ${name} deleted`, timeoutMs, async () => !(await readOrUndefined(() => custom.getClusterCustomObject({ ...KYVERNO, plural: 'clusterpolicies', name }))));
      }
    }
  }

  async function renew(namespace: string, name: string): Promise<string> {
    const issuing = (certificate: Certificate) => certificate.status?.conditions?.some((c) => c.type === 'Issuing' && c.status === 'True') ?? false;
    // cmctl refuses a Certificate that is being issued; wait for that issuance to end instead.
    let certificate = await poll(`Certificate ${namespace}/${name} not issuing`, timeoutMs, async () => {
      const current = await readCertificate(namespace, name);
      return issuing(current) ? undefined : current;
    });
    const before = serialOf(await readOrUndefined(() => core.readNamespacedSecret({ namespace, name: certificate.spec.secretName })));
    for (;;) {
      const conditions = (certificate.status?.conditions ?? []).filter((c) => c.type !== 'Issuing');
      conditions.push({
        type: 'Issuing', status: 'True', reason: 'ManuallyTriggered', message: 'Certificate re-issuance manually triggered',
        lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        ...(certificate.metadata?.generation ? { observedGeneration: certificate.metadata.generation } : {}),
      });
      try {
        await custom.replaceNamespacedCustomObjectStatus({ ...CERT_MANAGER, namespace, plural: 'certificates', name, body: { ...certificate, status: { ...certificate.status, conditions } } });
        break;
      } catch (error) {
        if ((error as { code?: unknown }).code !== 409) throw error;
        certificate = await readCertificate(namespace, name); // changed meanwhile: again, on the new version
      }
    }
    return poll(`renewal of Certificate ${namespace}/${name}`, timeoutMs, async () => {
      const secret = await readOrUndefined(() => core.readNamespacedSecret({ namespace, name: certificate.spec.secretName }));
      const serial = serialOf(secret);
      if (!serial || serial === before) return undefined;
      return issuing(await readCertificate(namespace, name)) ? undefined : serial;
    });
  }

  async function rotateCA(): Promise<void> {
    ca = CertificateAuthority.create({ commonName: rootCaName(), keyAlgorithm: options.caKeyAlgorithm ?? 'ecdsa-p256' });
    caPem = ca.certPem;
    caHistory.push(caPem);
    await writeRootCaSecret(true);
  }

  return {
    get caPem() {
      return caPem;
    },
    get caHistory() {
      return [...caHistory];
    },
    renew,
    rotateCA,
    setIssuer,
    setPolicies,
    writeIssuer,
  };
}

function rootCaName(): string {
  // Unique: a trust store may hold several platform CAs during a rollover.
  return `cpaas platform root CA ${randomBytes(4).toString('hex')}`;
}

/** @serving-cert/core's copy of deploy/platform (made by its build). */
function shippedManifestsDir(): string {
  const corePackage = createRequire(import.meta.url).resolve('@serving-cert/core/package.json');
  const dir = path.join(path.dirname(corePackage), 'deploy', 'platform');
  if (!existsSync(path.join(dir, 'kyverno-policies.yaml'))) {
    throw new TestkitError('E_ASSETS_MISSING', `${dir} has no kyverno-policies.yaml: reinstall @serving-cert/core (in its own repository, \`npm run build\` copies deploy/ into it), or pass manifestsDir`);
  }
  return dir;
}

/** Kyverno's /health/readiness over TLS, verified with the CA Kyverno made for its webhooks. */
async function kyvernoReady(core: CoreV1Api, port: number): Promise<boolean> {
  const caSecret = await readOrUndefined(() => core.readNamespacedSecret({ namespace: 'kyverno', name: 'kyverno-svc.kyverno.svc.kyverno-tls-ca' })).catch(() => undefined);
  const caData = caSecret?.data?.['tls.crt'] ?? caSecret?.data?.['ca.crt'];
  if (!caData) return false;
  return new Promise((resolve) => {
    https.get(`https://127.0.0.1:${port}/health/readiness`, { ca: Buffer.from(caData, 'base64').toString(), timeout: 2_000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on('error', () => resolve(false)).on('timeout', function (this: ClientRequest) {
      this.destroy();
    });
  });
}

function conditionOf(object: WithConditions | undefined, type: string): string | undefined {
  return object?.status?.conditions?.find((c) => c.type === type)?.status;
}

async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new TestkitError('E_TIMEOUT', `timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? `: ${describe(lastError)}` : ''}`);
}

async function createAll(kubeConfig: KubeConfig, objects: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kubeConfig);
  for (const object of objects) {
    if (!object?.kind) continue;
    await ignoreConflict(api.create(object));
  }
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

async function ignoreNotFound(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 404) throw error;
  }
}

async function ignoreConflict(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 409) throw error;
  }
}

async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  await ignoreConflict(core.createNamespace({ body: { metadata: { name } } }));
}

/** Creates CRDs from files (or leaves existing ones) and waits until each is Established. */
export async function installCrds(kubeConfig: KubeConfig, crdDir: string, files: readonly string[]): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const crds: V1CustomResourceDefinition[] = [];
  for (const file of files) {
    for (const document of loadAllYaml(await fs.readFile(path.join(crdDir, file), 'utf8')) as V1CustomResourceDefinition[]) {
      if (document?.kind === 'CustomResourceDefinition') crds.push(document);
    }
  }
  // Two at a time: the API server compiles each schema, and the machine has 2 cores.
  const pending = [...crds];
  await Promise.all([0, 1].map(async () => {
    for (let crd = pending.shift(); crd; crd = pending.shift()) await ignoreConflict(api.createCustomResourceDefinition({ body: crd }));
  }));
  const deadline = Date.now() + 60_000;
  for (const { metadata } of crds) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name: metadata!.name! });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new TestkitError('E_TIMEOUT', `CRD ${metadata!.name!} was not Established after 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
