import { afterEach, describe, expect, it } from 'vitest';
import { CoreV1Api, EventsV1Api, type EventsV1Event } from '@kubernetes/client-node';
import { ensureServingCert, type ServingCert, type ServingCertError } from '@serving-cert/core';
import { CertificateAuthority } from '@serving-cert/core/pki';
import { applyAppRbac, controlPlane, createNamespace, eventually } from '../helpers/cluster.js';
import { nextEvent, recordingLogger } from '../helpers/tls.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});
const admin = () => controlPlane().kubeConfig;
const core = () => admin().makeApiClient(CoreV1Api);
const ca = CertificateAuthority.create();

/** The Secret as cert-manager writes it, with `files` (PEM text) as its data. */
const secretData = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
const goodLeaf = (namespace: string) => {
  const leaf = ca.issue({ dnsNames: ['web', `web.${namespace}`, `web.${namespace}.svc`, `web.${namespace}.svc.cluster.local`] });
  return { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': leaf.caPem };
};

/**
 * A namespace with Service web, its Secret written by the test, and an app user bound to
 * deploy/app-rbac.yaml. The Service is not annotated (and the start does not annotate it): the
 * test writes every version of web-tls itself, so cert-manager must not issue it.
 */
async function app(events: boolean) {
  const namespace = await createNamespace('events');
  await core().createNamespacedService({ namespace, body: { metadata: { name: 'web' }, spec: { ports: [{ port: 443 }] } } });
  await core().createNamespacedSecret({ namespace, body: { metadata: { name: 'web-tls' }, type: 'kubernetes.io/tls', data: secretData(goodLeaf(namespace)) } });
  const user = `app-${namespace}`;
  await applyAppRbac(namespace, 'web', user, { events });
  const logger = recordingLogger();
  const cert: ServingCert = await ensureServingCert({ renewOnRollover: false, kubeConfig: controlPlane().addUser(user), source: 'api', annotate: false, serviceName: 'web', namespace, events: true, logger, timeoutMs: 30_000 });
  cleanups.push(() => cert.close());
  const write = (files: Record<string, string>) => core().replaceNamespacedSecret({ namespace, name: 'web-tls', body: {
    metadata: { name: 'web-tls' }, type: 'kubernetes.io/tls', data: secretData(files),
  } });
  return { namespace, cert, logger, write };
}

const eventsIn = async (namespace: string, reason: string): Promise<EventsV1Event[]> =>
  (await admin().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace })).items.filter((event) => event.reason === reason);

describe('Kubernetes Events (events: true)', () => {
  it('records a refusal on the Service once, counts an identical repeat in its series, and records rotations', async () => {
    const { namespace, cert, write } = await app(true);
    const service = await core().readNamespacedService({ namespace, name: 'web' });
    const good = goodLeaf(namespace);
    const bad = { ...good, 'tls.key': ca.issue().keyPem }; // a key of another pair

    let refused = nextEvent<[ServingCertError]>(cert, 'error', 15_000);
    await write(bad);
    expect((await refused)[0].code).toBe('E_KEY_MISMATCH');
    const [first] = await eventually('one ServingCertRefused Event', () => eventsIn(namespace, 'ServingCertRefused'), (found) => found.length === 1);
    expect(first).toMatchObject({
      type: 'Warning', action: 'Validate', reportingController: 'serving-cert',
      regarding: { kind: 'Service', name: 'web', namespace, uid: service.metadata!.uid },
    });
    expect(first!.note).toMatch(/^E_KEY_MISMATCH: .*tls\.key does not belong to tls\.crt/);
    expect(first!.note).not.toContain(bad['tls.key'].split('\n')[1]);
    expect(first!.series).toBeUndefined();

    const rotated = nextEvent(cert, 'rotate', 15_000);
    await write(good);
    await rotated;
    refused = nextEvent<[ServingCertError]>(cert, 'error', 15_000);
    await write({ ...good, 'tls.key': ca.issue().keyPem }); // another refused version, for the same reason
    await refused;
    const repeated = await eventually('the series of the ServingCertRefused Event', () => eventsIn(namespace, 'ServingCertRefused'), (found) => found[0]?.series?.count === 2);
    expect(repeated).toHaveLength(1);
    expect(repeated[0]!.metadata!.name).toBe(first!.metadata!.name);

    const [rotation] = await eventually('a ServingCertRotated Event', () => eventsIn(namespace, 'ServingCertRotated'), (found) => found.length === 1);
    expect(rotation).toMatchObject({ type: 'Normal', action: 'Rotate', regarding: { kind: 'Service', name: 'web' } });
    expect(rotation!.note).toContain(`serial ${cert.current.info.serialNumber}`);
  });

  it('works without the optional Events Role, with a single warning', async () => {
    const { namespace, cert, logger, write } = await app(false);
    const good = goodLeaf(namespace);
    for (const files of [{ ...good, 'tls.key': ca.issue().keyPem }, good]) {
      const next = nextEvent(cert, files === good ? 'rotate' : 'error', 15_000);
      await write(files);
      await next;
    }
    expect(cert.current.info.serialNumber).toBeDefined();
    const warnings = () => logger.lines.filter((line) => line.message.includes('Kubernetes Events are not recorded'));
    await eventually('the warning about Events', () => Promise.resolve(warnings()), (found) => found.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the rotation's Event try, too
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 'warn', fields: { code: 'E_FORBIDDEN' } });
    expect(warnings()[0]!.message).toContain('serving-cert-events Role of deploy/app-rbac.yaml');
    expect(await eventsIn(namespace, 'ServingCertRefused')).toHaveLength(0);
  });
});
