// A JavaScript consumer of the packed tarballs, run by node in a project outside the
// repository: the README's two lines on the embedded default (the local development CA, as
// outside a cluster), then one HTTPS request that verifies the served certificate.
import { once } from 'node:events';
import * as https from 'node:https';
import express from 'express';
import { ensureServingCert } from '@serving-cert/core';
import { createHttpsServer } from '@serving-cert/express';

const cert = await ensureServingCert(); // SERVING_CERT_SERVICE, POD_NAMESPACE and SERVING_CERT_LOCAL_CA_DIR from the environment
const server = createHttpsServer(express().get('/', (_req, res) => res.send('hello from the tarballs')), cert).listen(0, '127.0.0.1');
await once(server, 'listening');
const host = `${process.env.SERVING_CERT_SERVICE}.${process.env.POD_NAMESPACE}.svc`;
const body = await new Promise((resolve, reject) => {
  https.get({ host: '127.0.0.1', port: server.address().port, path: '/', ca: cert.trust.pem, servername: host }, (res) => {
    let text = '';
    res.setEncoding('utf8').on('data', (chunk) => { text += chunk; }).on('end', () => resolve(`${res.statusCode} ${text}`));
  }).on('error', reject);
});
console.log(`consumer: ${cert.health().source} served ${host}: ${body}`);
server.close();
await cert.close();
if (body !== '200 hello from the tarballs') process.exit(1);
