// The restart-on-change baseline: reads tls.crt and tls.key once at start and serves them; a
// new certificate needs a new process. Prints the listening port on stdout.
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';

const dir = process.argv[2];
const server = https.createServer({ cert: readFileSync(path.join(dir, 'tls.crt')), key: readFileSync(path.join(dir, 'tls.key')) }, (_req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
