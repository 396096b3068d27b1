// Where each kind of object keeps its caBundle, and the JSON patch that sets it. Pure: no I/O.

/** An object whose caBundle serving-cert keeps on the bundle that verifies its certificate. */
export type CaBundleTarget =
  | {
    kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';
    name: string;
    /** Only these webhook entries (by `name`); default every entry of the object. */
    webhooks?: string[];
  }
  | { kind: 'APIService'; name: string }
  /** A CRD whose conversion webhook this process serves. */
  | { kind: 'CustomResourceDefinition'; name: string };

/** One JSON patch operation (RFC 6902). */
export interface PatchOperation {
  op: 'test' | 'replace' | 'add';
  path: string;
  value: unknown;
}

interface ObjectShape {
  metadata?: { resourceVersion?: string };
  webhooks?: Array<{ name?: string; clientConfig?: { caBundle?: string } }>;
  spec?: { caBundle?: string; conversion?: { strategy?: string; webhook?: { clientConfig?: { caBundle?: string } } } };
}

/** The API path of a target (all four kinds are cluster-scoped). */
export function pathOf(target: CaBundleTarget): { group: string; version: string; plural: string } {
  switch (target.kind) {
    case 'ValidatingWebhookConfiguration':
      return { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'validatingwebhookconfigurations' };
    case 'MutatingWebhookConfiguration':
      return { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingwebhookconfigurations' };
    case 'APIService':
      return { group: 'apiregistration.k8s.io', version: 'v1', plural: 'apiservices' };
    case 'CustomResourceDefinition':
      return { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions' };
  }
}

/**
 * The patch that puts `bundle` (base64 of the PEM bundle) into every caBundle of `object` that
 * `target` names, guarded by the resourceVersion it was computed from (a `test` operation: a
 * concurrent change makes it fail, and the keeper reads again). Empty when all are current.
 * Throws when the object has no place for a caBundle that the target names.
 */
export function caBundlePatch(target: CaBundleTarget, object: ObjectShape, bundle: string): PatchOperation[] {
  const operations: PatchOperation[] = [];
  const set = (path: string, current: string | undefined): void => {
    if (current !== bundle) operations.push({ op: current === undefined ? 'add' : 'replace', path, value: bundle });
  };
  if (target.kind === 'ValidatingWebhookConfiguration' || target.kind === 'MutatingWebhookConfiguration') {
    const entries = object.webhooks ?? [];
    const wanted = target.webhooks;
    const missing = (wanted ?? []).filter((name) => !entries.some((entry) => entry.name === name));
    if (missing.length > 0) throw new Error(`${target.kind} ${target.name} has no webhook named ${missing.join(', ')}`);
    entries.forEach((entry, index) => {
      if (wanted && !wanted.includes(entry.name ?? '')) return;
      if (!entry.clientConfig) throw new Error(`${target.kind} ${target.name}: webhook ${entry.name ?? index} has no clientConfig`);
      set(`/webhooks/${index}/clientConfig/caBundle`, entry.clientConfig.caBundle);
    });
  } else if (target.kind === 'APIService') {
    set('/spec/caBundle', object.spec?.caBundle);
  } else {
    const clientConfig = object.spec?.conversion?.webhook?.clientConfig;
    if (object.spec?.conversion?.strategy !== 'Webhook' || !clientConfig) {
      throw new Error(`CustomResourceDefinition ${target.name} has no conversion webhook (spec.conversion.strategy Webhook with a clientConfig)`);
    }
    set('/spec/conversion/webhook/clientConfig/caBundle', clientConfig.caBundle);
  }
  if (operations.length === 0) return [];
  return [{ op: 'test', path: '/metadata/resourceVersion', value: object.metadata?.resourceVersion }, ...operations];
}

/** Every caBundle the target names, as they are now (for tests and status). */
export function caBundlesOf(target: CaBundleTarget, object: ObjectShape): Array<string | undefined> {
  if (target.kind === 'APIService') return [object.spec?.caBundle];
  if (target.kind === 'CustomResourceDefinition') return [object.spec?.conversion?.webhook?.clientConfig?.caBundle];
  return (object.webhooks ?? [])
    .filter((entry) => !target.webhooks || target.webhooks.includes(entry.name ?? ''))
    .map((entry) => entry.clientConfig?.caBundle);
}
