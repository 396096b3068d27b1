// Observability for a serving-cert app: metrics scraped by Prometheus (through OpenTelemetry's
// Prometheus exporter), a readiness route for kubelet, Kubernetes Events and a
// diagnostics_channel subscriber. Run in a pod like src/server.ts; not started by CI.
import * as diagnosticsChannel from 'node:diagnostics_channel';
import express from 'express';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { ensureServingCert } from '@serving-cert/core';
import { createHttpsServer, mountReadiness } from '@serving-cert/express';

// GET http://<pod>:9464/metrics: serving_cert_certificate_expiry_seconds{serial,source},
// serving_cert_rotations_total, serving_cert_refusals_total{code}, serving_cert_trust_changes_total,
// serving_cert_watch_reconnects_total{reason}, serving_cert_reload_duration_seconds (histogram).
const meterProvider = new MeterProvider({ readers: [new PrometheusExporter({ port: 9464 })] });
// Or register it globally (metrics.setGlobalMeterProvider) before ensureServingCert: same result.

// Readiness on a plain HTTP port that listens before the certificate is there: 503 until it is,
// and 503 when the served one expires within an hour with nothing newer.
const starting = ensureServingCert({ meterProvider, events: true });
const probes = express();
mountReadiness(probes, starting, { expiryMarginMs: 3_600_000 });
probes.listen(8081);

// Anyone in the process can listen, with no reference to the handle (as APMs do for undici).
diagnosticsChannel.subscribe('serving-cert:refuse', (message) => {
  const { code, source } = message as { code: string; source: string };
  console.error(`serving-cert refused an update from ${source}: ${code}`);
});

const cert = await starting;
const app = express();
app.get('/', (_req, res) => {
  res.json({ serial: cert.current.info.serialNumber, health: cert.health() });
});
createHttpsServer(app, cert).listen(8443);
