// The in-cluster example: what runs in the pod of deploy/example-app.yaml. In a pod,
// ensureServingCert() finds the Service (SERVING_CERT_SERVICE, POD_NAMESPACE), makes sure it
// carries the annotation, waits for the mounted Secrets (optional volumes) and serves them,
// following every rotation; outside a cluster the same code runs on the local development CA.
// With ALLOWED_NAMESPACES set, mTLS is on: the server asks callers for a certificate without
// requiring one (clientCert: 'request'), so kubelet's probes reach /healthz on the same port,
// and /hello answers only Services of those namespaces (others get 403).
import type { AddressInfo } from 'node:net';
import express from 'express';
import { allowPeers, ensureServingCert } from '@serving-cert/core';
import { createHttpsServer, requirePeer } from '@serving-cert/express';

const cert = await ensureServingCert({
  // The mounts of deploy/example-app.yaml are the defaults; these let a test mount elsewhere.
  ...(process.env.TLS_CERT_DIR ? { certDir: process.env.TLS_CERT_DIR } : {}),
  ...(process.env.TLS_CA_DIR ? { caDir: process.env.TLS_CA_DIR } : {}),
});
const allowed = process.env.ALLOWED_NAMESPACES?.split(',').filter(Boolean);

const app = express();
app.get('/healthz', (_req, res) => {
  res.send('ok'); // open: kubelet's probes present no client certificate
});
const hello = express.Router();
if (allowed) hello.use(requirePeer(allowPeers({ namespaces: allowed })));
hello.get('/', (req, res) => {
  res.json({ hello: req.peer?.serviceName ?? 'anonymous', serial: cert.current.info.serialNumber });
});
app.use('/hello', hello);

const server = createHttpsServer(app, cert, { clientCert: allowed ? 'request' : 'none' });
server.listen(Number(process.env.PORT ?? 8443), () => {
  console.log(`serving ${cert.current.info.dnsNames.join(', ')} on :${(server.address() as AddressInfo).port}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    void cert.close();
  });
}
