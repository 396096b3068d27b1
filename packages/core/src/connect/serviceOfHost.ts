/** `svc.ns.svc` and `svc.ns.svc.<cluster domain>`: how a client names a Service in a URL. */
const SERVICE_HOST = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?\.?$/;

/** The Service a URL host names (`payments.shop.svc[.cluster.local]`), or undefined for any other host. */
export function serviceOfHost(host: string): { serviceName: string; namespace: string } | undefined {
  const match = SERVICE_HOST.exec(host.toLowerCase());
  return match ? { serviceName: match[1]!, namespace: match[3]! } : undefined;
}
