// What `serving-cert --help` and `serving-cert <command> --help` print.

const COMMON_FLAGS = `flags of every command:
  -n, --namespace NS      default: POD_NAMESPACE, then the kubeconfig context's namespace, then "default"
  -A, --all-namespaces    for commands that list
  -o, --output FORMAT     text (the default), json or yaml; --json is -o json
      --kubeconfig FILE   instead of KUBECONFIG or ~/.kube/config (and instead of the pod's own access)
      --context NAME      a context of the kubeconfig other than its current one
  -h, --help              this help, or a command's: serving-cert inspect --help`;

const EXIT_CODES = `exit codes:
  0  every check passes
  1  a check fails (the report names it, with the fix)
  2  usage error, or no cluster to ask (none configured, unreachable, or the read was refused);
     with -o json or yaml, stdout then holds { "error": { "code": "E_USAGE" | "E_NO_CLUSTER" | ..., "message": ... } }`;

export const COMMAND_HELP = {
  inspect: `usage:
  serving-cert inspect DIR [--service S -n NS] [--cluster-domain D] [-o text|json|yaml]
      Reads tls.crt, tls.key and ca.crt from DIR (a mounted Secret or any folder) as serving-cert
      does, prints the certificate and each check of its validation gate.
  serving-cert inspect secret NAME [-n NS] [--service S] [--cluster-domain D] [-o text|json|yaml]
      The same, for Secret NAME read through the Kubernetes API (needs get on that Secret).

  --service S             check the leaf covers the Service's names (S, S.NS, S.NS.svc,
                          S.NS.svc.<cluster domain>); default SERVING_CERT_SERVICE; for a Secret,
                          the Service of its cert-manager Certificate (<service>-cert)
  --cluster-domain D      the cluster's DNS domain; default cluster.local

In JSON, each check has a stable id (files, parse, key-match, validity, key-usage, strength,
dns-names, chain) and each problem serving-cert's error code (E_EXPIRED, E_CHAIN, ...).`,
  doctor: `usage:
  serving-cert doctor --service S [-n NS] [-o text|json|yaml]
      Each thing serving-cert depends on, pass or fail, with the fix: the API server, the current
      identity's RBAC, the Service's annotation, the Certificate and its CertificateRequest, the
      ClusterIssuer, service-root-ca, the platform's three policies. With a kubeconfig, or in a pod.

  --service S             the Service; default SERVING_CERT_SERVICE

In JSON, each check has a stable id (api-server, rbac, service, certificate, certificate-request,
cluster-issuer, ca-secret, policy.<name>) and, when it does not pass, a code (E_NOT_FOUND,
E_NOT_READY, E_UNREACHABLE, ...). An unreachable API server is one failed check, exit 2.`,
  rollover: `usage:
  serving-cert rollover status [-n NS | -A] [-o text|json|yaml]
      During a platform CA rollover: for each annotated Service it can read, whether its leaf is
      signed by the current platform root CA (current) or an older one (old), its Certificate's
      Ready condition and renewal time. Exit 0 when every leaf is on the current CA, 1 when not.
      Only reads: needs list on services, get on the Secrets and certificates.cert-manager.io.`,
  manifests: `usage:
  serving-cert manifests [platform|app]
      Prints the YAML of deploy/: the platform's Kyverno policies and RBAC (platform, the
      default), or the app's least-privilege RBAC and an example Deployment (app).`,
} as const;

/** The help of `command`, or the overview. */
export function helpOf(command?: keyof typeof COMMAND_HELP): string {
  if (command) return `${COMMAND_HELP[command]}\n\n${COMMON_FLAGS}\n\n${EXIT_CODES}`;
  return `serving-cert: check a serving certificate and the platform behind it

usage: serving-cert <command> [flags]

commands:
  inspect DIR               the validation gate on a folder (a mounted Secret)
  inspect secret NAME       the validation gate on a Secret read through the API
  doctor                    each thing serving-cert depends on in the cluster, with the fix
  rollover status           which leaves a platform CA rollover has moved to the new CA
  manifests [platform|app]  the YAML of deploy/
  --version                 the version of serving-cert

${COMMON_FLAGS}

${EXIT_CODES}`;
}
