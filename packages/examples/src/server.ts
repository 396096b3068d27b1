// The in-cluster example: what runs in the pod of deploy/example-app.yaml. In a pod,
// ensureServingCert() finds the Service (SERVING_CERT_SERVICE, POD_NAMESPACE), makes sure it
// carries the annotation, waits for the mounted Secrets (optional volumes) and serves them,
// following every rotation; outside a cluster the same code runs on the local development CA.
import express from 'express';
import { allowPeers, ensureServingCert } from '@serving-cert/core';
import { createHttpsServer } from '@serving-cert/express';

const cert = await ensureServingCert();
const app = express();
app.get('/healthz', (_req, res) => {
  res.send('ok');
});
app.get('/hello', (req, res) => {
  res.json({ hello: req.peer?.serviceName ?? 'anonymous', serial: cert.current.info.serialNumber });
});

const allowed = process.env.ALLOWED_NAMESPACES?.split(',').filter(Boolean);
const server = createHttpsServer(app, cert, allowed ? { authorizer: allowPeers({ namespaces: allowed }) } : {});
server.listen(Number(process.env.PORT ?? 8443), () => {
  console.log(`serving ${cert.current.info.dnsNames.join(', ')} on :${process.env.PORT ?? 8443}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    void cert.close();
  });
}
