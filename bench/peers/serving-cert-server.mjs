// serving-cert's side of the rotation benchmark, in a process of its own as the Go peer is:
// ensureServingCert on CERT_DIR (files source) and an attached https server. Prints the port.
// With a second argument, appends `served <epoch ms> <ms since the change event> <ms from the
// change event to setSecureContext> <ms inside setSecureContext>` for each rotation to that
// file (from the serving-cert:rotate channel), for files-profile.ts.
import { appendFileSync } from 'node:fs';
import diagnosticsChannel from 'node:diagnostics_channel';
import * as https from 'node:https';
import { ensureServingCert, silentLogger } from '@serving-cert/core';

const certDir = process.argv[2];
const cert = await ensureServingCert({
  source: 'files', annotate: false, certDir, caDir: `${certDir}-no-ca`, dnsNames: ['web.shop.svc'], logger: silentLogger,
});
const timeline = process.argv[3];
const server = https.createServer(cert.serverOptions(), (_req, res) => res.end('ok'));
if (timeline) {
  // setSecureContext timed from outside: OpenSSL builds the server's new context inside it.
  let contextStart = 0;
  let contextEnd = 0;
  const setSecureContext = server.setSecureContext.bind(server);
  server.setSecureContext = (options) => {
    contextStart = performance.now();
    setSecureContext(options);
    contextEnd = performance.now();
  };
  diagnosticsChannel.subscribe('serving-cert:rotate', ({ latencyMs }) => {
    const now = performance.now();
    const toContext = contextStart - (now - latencyMs);
    appendFileSync(timeline, `served ${performance.timeOrigin + now} ${latencyMs} ${toContext} ${contextEnd - contextStart} ${now - contextEnd}\n`);
  });
}
cert.attach(server);
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => {
  server.close();
  void cert.close().then(() => process.exit(0));
});
