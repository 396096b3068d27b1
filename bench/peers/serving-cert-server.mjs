// serving-cert's side of the rotation benchmark, in a process of its own as the Go peer is:
// ensureServingCert on CERT_DIR (files source) and an attached https server. Prints the port.
import * as https from 'node:https';
import { ensureServingCert, silentLogger } from '@serving-cert/core';

const certDir = process.argv[2];
const cert = await ensureServingCert({
  source: 'files', annotate: false, certDir, caDir: `${certDir}-no-ca`, dnsNames: ['web.shop.svc'], logger: silentLogger,
});
const server = https.createServer(cert.serverOptions(), (_req, res) => res.end('ok'));
cert.attach(server);
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => {
  server.close();
  void cert.close().then(() => process.exit(0));
});
