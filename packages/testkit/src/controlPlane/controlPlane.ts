import { spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as https from 'node:https';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { CertificateAuthority, generatePrivateKey, privateKeyToPem } from '@serving-cert/core/pki';
import { startServiceNetwork, type ServiceNetwork } from '../serviceNetwork/serviceNetwork.js';
import { controlPlaneAssets, type ControlPlaneAssets } from './assets.js';
import { startSupervisor, type Supervisor } from './startSupervisor.js';
import { TestkitError } from '../errors.js';

/** Options of {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /** How long to wait for etcd and kube-apiserver to be ready. Default 90 s (2 cores). */
  startTimeoutMs?: number;
  /** Progress lines ("etcd ready after 1.2 s"). Default: stderr. */
  log?: (message: string) => void;
}

/**
 * What another process needs to reach a running control plane: the API server's address and
 * the test CA that signs client certificates. Plain data, so a vitest global setup can
 * `provide()` it to test workers, which call {@link connectToControlPlane}.
 */
export interface ControlPlaneConnection {
  server: string;
  caPem: string;
  /** The test CA's key: whoever holds it can be any user. Test clusters only. */
  caKeyPem: string;
}

/** Admin access and users for a control plane started elsewhere. */
export interface ControlPlaneClient {
  /** system:masters */
  readonly kubeConfig: KubeConfig;
  /** A KubeConfig for a user (CN = name, O = groups) with no rights until a test binds some. */
  addUser(name: string, groups?: string[]): KubeConfig;
}

/** Builds KubeConfigs for a control plane from its {@link ControlPlaneConnection}. */
export function connectToControlPlane(connection: ControlPlaneConnection): ControlPlaneClient {
  const ca = CertificateAuthority.fromPem(connection.caPem, connection.caKeyPem);
  const kubeConfigFor = (name: string, groups: string[]): KubeConfig => {
    const user = ca.issueClient(name, groups);
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'testkit', server: connection.server, caData: b64(connection.caPem), skipTLSVerify: false }],
      users: [{ name, certData: b64(user.certPem), keyData: b64(user.keyPem) }],
      contexts: [{ name, cluster: 'testkit', user: name }],
      currentContext: name,
    });
    return kc;
  };
  return { kubeConfig: kubeConfigFor('testkit-admin', ['system:masters']), addUser: (name, groups = []) => kubeConfigFor(name, groups) };
}

/** A running kube-apiserver and etcd on loopback ports. */
export interface ControlPlane extends ControlPlaneClient {
  readonly connection: ControlPlaneConnection;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** PEM of the CA that signed the API server's certificate (and every client certificate). */
  readonly caPem: string;
  readonly assets: ControlPlaneAssets;
  /** Stops both processes and removes every temporary file. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * Kills kube-apiserver (SIGKILL, as a crash or an evicted static pod) and starts it again
   * with the same flags on the same port; etcd and its data stay. Resolves once `/readyz`
   * answers 200 again, with the `Date.now()` of that answer (polled every 25 ms). `downMs`
   * keeps it down that long first (an outage that lets clients' backoff build up). Default 0.
   */
  restartApiServer(options?: { downMs?: number }): Promise<{ readyAt: number }>;
}

/**
 * Starts etcd and kube-apiserver the way controller-runtime's envtest does: loopback ports,
 * client-certificate authentication, RBAC authorization, service-account token signing. Waits
 * until `/readyz` answers. The binaries come from {@link controlPlaneAssets}.
 *
 * Should this process die without stop(), however it dies (SIGKILL included), a supervisor
 * process that watches it kills etcd and kube-apiserver and removes the temporary folder: all
 * gone within 2 s of the death, 0.1 s typically (the bound the testkit README states and
 * test/cluster/controlPlane.test.ts asserts).
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? ((message: string) => process.stderr.write(`testkit: ${message}\n`));
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  const assets = controlPlaneAssets();
  const supervisor = await startSupervisor(path.join(os.tmpdir(), 'serving-cert-control-plane-'), timeoutMs);
  const dir = supervisor.dir;
  const children: ChildProcess[] = [];
  let serviceNetwork: ServiceNetwork | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const child of children.reverse()) await terminate(child);
      await serviceNetwork?.close();
      await fs.rm(dir, { recursive: true, force: true });
      await supervisor.release();
    })();
    return stopping;
  };

  try {
    const started = Date.now();
    const ca = CertificateAuthority.create({ commonName: 'testkit control plane CA' });
    const serving = ca.issue({ dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'], ipAddresses: ['127.0.0.1', '10.0.0.1'], extendedKeyUsage: ['serverAuth'] });
    const saKey = generatePrivateKey('ecdsa-p256');
    const files = {
      ca: path.join(dir, 'ca.crt'),
      servingCert: path.join(dir, 'apiserver.crt'),
      servingKey: path.join(dir, 'apiserver.key'),
      saKey: path.join(dir, 'sa-signer.key'),
      saPub: path.join(dir, 'sa-signer.pub'),
    };
    await fs.writeFile(files.ca, ca.certPem);
    await fs.writeFile(files.servingCert, serving.certPem);
    await fs.writeFile(files.servingKey, serving.keyPem, { mode: 0o600 });
    await fs.writeFile(files.saKey, privateKeyToPem(saKey), { mode: 0o600 });
    await fs.writeFile(files.saPub, createPublicKey(saKey).export({ type: 'spki', format: 'pem' }));

    const [etcdPort, etcdPeerPort, apiPort] = await freePorts(3);
    const etcd = launch('etcd', assets.etcd, [
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ], dir, supervisor);
    children.push(etcd.child);
    await waitUntil(`etcd (log: ${etcd.logFile})`, etcd, timeoutMs, () => httpOk(`http://127.0.0.1:${etcdPort}/health`));
    log(`etcd ${assets.versions.etcd} ready on 127.0.0.1:${etcdPort} after ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const server = `https://127.0.0.1:${apiPort}`;
    // No kube-proxy here: the API server's own calls to Services (admission webhooks) go through
    // a CONNECT proxy that forwards a Service's cluster IP to a loopback port (serviceNetwork.ts).
    serviceNetwork = await startServiceNetwork();
    const apiserverEnv = { ...process.env, HTTPS_PROXY: serviceNetwork.proxyUrl, NO_PROXY: '127.0.0.1,localhost' };
    const apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--tls-cert-file=${files.servingCert}`,
      `--tls-private-key-file=${files.servingKey}`,
      `--client-ca-file=${files.ca}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=${server}/`,
      `--service-account-key-file=${files.saPub}`,
      `--service-account-signing-key-file=${files.saKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount',
      // Fewer moving parts on 2 cores; neither changes what a client sees of the API.
      '--enable-priority-and-fairness=false',
      '--endpoint-reconciler-type=none',
      '--v=0',
    ];
    const apiserver = launch('kube-apiserver', assets.kubeApiserver, apiserverArgs, dir, supervisor, apiserverEnv);
    children.push(apiserver.child);

    const connection = { server, caPem: ca.certPem, caKeyPem: ca.keyPem };
    const client = connectToControlPlane(connection);
    const probeUser = ca.issueClient('testkit-admin', ['system:masters']);
    await waitUntil(`kube-apiserver (log: ${apiserver.logFile})`, apiserver, timeoutMs,
      () => httpsOk(`${server}/readyz`, ca.certPem, probeUser));
    log(`kube-apiserver ${assets.versions.kubernetes} ready at ${server} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    serviceNetwork.connect(client.kubeConfig);

    const restart = { children, current: apiserver, relaunch: () => launch('kube-apiserver', assets.kubeApiserver, apiserverArgs, dir, supervisor, apiserverEnv),
      ready: () => httpsOk(`${server}/readyz`, ca.certPem, probeUser), timeoutMs };
    return { ...client, connection, server, caPem: ca.certPem, assets, stop, restartApiServer: (options) => restartApiServer(restart, options?.downMs ?? 0) };
  } catch (error) {
    await stop();
    throw error;
  }
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

/** A child process started by {@link launch}; exported for the platform's processes. */
export interface Launched {
  child: ChildProcess;
  logFile: string;
  exited: () => string | undefined;
  supervisor: Supervisor;
}

export function launch(name: string, binary: string, args: string[], dir: string, supervisor: Supervisor, env: NodeJS.ProcessEnv = process.env): Launched {
  const logFile = path.join(dir, `${name}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  if (child.pid !== undefined) supervisor.watch(child.pid);
  let exit: string | undefined;
  child.on('exit', (code, signal) => {
    if (child.pid !== undefined) supervisor.forget(child.pid);
    exit = `exited with ${signal ?? code}`;
  });
  child.on('error', (error) => {
    exit = `could not start: ${error.message}`;
  });
  return { child, logFile, exited: () => exit, supervisor };
}

export async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function waitUntil(what: string, launched: Launched, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const lost = launched.supervisor.lost();
    if (lost) throw new TestkitError('E_START', `${lost}: nobody would stop ${what} if this process died`);
    const exit = launched.exited();
    if (exit) throw new TestkitError('E_START', `${what} ${exit}: ${await tail(launched.logFile)}`);
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new TestkitError('E_TIMEOUT', `${what} was not ready after ${timeoutMs / 1000} s (on a slow or busy machine, raise startTimeoutMs): ${await tail(launched.logFile)}`);
}

async function tail(file: string): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-15).join('\n');
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    http.get(url, { timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on('error', () => resolve(false)).on('timeout', function (this: http.ClientRequest) {
      this.destroy();
    });
  });
}

function httpsOk(url: string, ca: string, client: { certPem: string; keyPem: string }): Promise<boolean> {
  return new Promise((resolve) => {
    https.get(url, { ca, cert: client.certPem, key: client.keyPem, timeout: 2_000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on('error', () => resolve(false)).on('timeout', function (this: http.ClientRequest) {
      this.destroy();
    });
  });
}

/** Free loopback ports, held open together so that none is handed out twice. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  })));
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** What {@link restartApiServer} needs of a running control plane. */
interface Restartable {
  /** The processes stop() terminates: the new kube-apiserver joins them. */
  children: ChildProcess[];
  current: Launched;
  relaunch: () => Launched;
  ready: () => Promise<boolean>;
  timeoutMs: number;
}

/** See {@link ControlPlane.restartApiServer}. */
async function restartApiServer(plane: Restartable, downMs: number): Promise<{ readyAt: number }> {
  const old = plane.current.child;
  if (old.exitCode === null && old.signalCode === null) {
    const exited = new Promise<void>((resolve) => old.once('exit', () => resolve()));
    old.kill('SIGKILL');
    await exited;
  }
  plane.children.splice(plane.children.indexOf(old), 1);
  await new Promise((resolve) => setTimeout(resolve, downMs));
  const next = plane.relaunch(); // the same port: the kernel frees a killed listener's port at once
  plane.current = next;
  plane.children.push(next.child);
  const deadline = Date.now() + plane.timeoutMs;
  while (Date.now() < deadline) {
    const exit = next.exited();
    if (exit) throw new TestkitError('E_START', `kube-apiserver ${exit} after a restart: ${await tail(next.logFile)}`);
    if (await plane.ready()) return { readyAt: Date.now() };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new TestkitError('E_TIMEOUT', `kube-apiserver was not ready ${plane.timeoutMs / 1000} s after a restart: ${await tail(next.logFile)}`);
}
