// serving-cert's side of the rotation benchmark, in a process of its own as the Go peer is:
// ensureServingCert on CERT_DIR (files source) and an attached https server. Prints the port.
// With a second argument, appends `served <epoch ms> <ms since the change event>` for each
// rotation to that file (from the serving-cert:rotate channel), for files-profile.ts.
import { appendFileSync } from 'node:fs';
import diagnosticsChannel from 'node:diagnostics_channel';
import * as https from 'node:https';
import { ensureServingCert, silentLogger } from '@serving-cert/core';

const certDir = process.argv[2];
const cert = await ensureServingCert({
  source: 'files', annotate: false, certDir, caDir: `${certDir}-no-ca`, dnsNames: ['web.shop.svc'], logger: silentLogger,
});
const timeline = process.argv[3];
if (timeline) {
  diagnosticsChannel.subscribe('serving-cert:rotate', ({ latencyMs }) => {
    appendFileSync(timeline, `served ${performance.timeOrigin + performance.now()} ${latencyMs}\n`);
  });
}
const server = https.createServer(cert.serverOptions(), (_req, res) => res.end('ok'));
cert.attach(server);
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => {
  server.close();
  void cert.close().then(() => process.exit(0));
});
