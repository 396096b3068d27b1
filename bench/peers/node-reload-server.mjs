// The floor of any Node server that reloads a mounted certificate, in the rotation benchmark:
// fs.watch on the folder and, at kubelet's rename of `..data`, the two files read and handed to
// setSecureContext. No validation at all: it would serve a mismatched, expired or wrongly-named
// pair. What serving-cert costs above this is its gate and its bookkeeping; what this costs
// above certwatcher is Node itself (OpenSSL building a context on the thread that also runs
// every handshake). Usage: node node-reload-server.mjs CERT_DIR; prints the port.
import { readFileSync, watch } from 'node:fs';
import * as https from 'node:https';

const dir = process.argv[2];
const read = () => ({ key: readFileSync(`${dir}/..data/tls.key`), cert: readFileSync(`${dir}/..data/tls.crt`) });
const server = https.createServer(read(), (_req, res) => res.end('ok'));
watch(dir, (_event, name) => {
  if (name === '..data') server.setSecureContext(read());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
