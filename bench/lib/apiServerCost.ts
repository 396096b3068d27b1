// What kube-apiserver spends, read from outside: its process in /proc (RSS, CPU) and its own
// /metrics (watchers, long-running requests, requests by verb and code, Go heap).
import * as fs from 'node:fs/promises';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** The pid of the kube-apiserver that listens on `server`'s port (found by its --secure-port flag). */
export async function apiServerPid(server: string): Promise<number> {
  const flag = `--secure-port=${new URL(server).port}`;
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (args[0]?.endsWith('kube-apiserver') && args.includes(flag)) return Number(entry);
  }
  throw new Error(`no kube-apiserver process with ${flag} in /proc`);
}

/** Resident memory and CPU time (user + system) of a process, from /proc. */
export async function processCost(pid: number): Promise<{ rssBytes: number; cpuSeconds: number }> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssBytes: rssKiB * 1024, cpuSeconds: ticks / 100 }; // USER_HZ is 100 on Linux
}

/** One scrape of /metrics: the sum of every sample of `name` whose labels include all of `labels`. */
export interface Metrics {
  sum(name: string, labels?: Record<string, string>): number;
  has(name: string): boolean;
  /** Sums of `name` grouped by the value of `label`. */
  by(name: string, label: string, labels?: Record<string, string>): Record<string, number>;
}

export async function scrapeMetrics(kubeConfig: KubeConfig): Promise<Metrics> {
  const server = new URL(kubeConfig.getCurrentCluster()!.server);
  const options: https.RequestOptions = { hostname: server.hostname, port: server.port, path: '/metrics', method: 'GET', agent: false };
  await kubeConfig.applyToHTTPSOptions(options);
  const text = await new Promise<string>((resolve, reject) => {
    const request = https.request(options, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics: HTTP ${response.statusCode}`))));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
  const samples = text.split('\n').filter((line) => line && !line.startsWith('#')).map(parseSample);
  return {
    sum: (name, labels = {}) => samples
      .filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
      .reduce((total, sample) => total + sample.value, 0),
    has: (name) => samples.some((sample) => sample.name === name),
    by: (name, label, labels = {}) => {
      const groups: Record<string, number> = {};
      for (const sample of samples) {
        if (sample.name !== name || !Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) continue;
        const group = sample.labels[label] ?? '';
        groups[group] = (groups[group] ?? 0) + sample.value;
      }
      return groups;
    },
  };
}

function parseSample(line: string): { name: string; labels: Record<string, string>; value: number } {
  const brace = line.indexOf('{');
  const space = line.lastIndexOf(' ');
  const name = brace === -1 ? line.slice(0, line.indexOf(' ')) : line.slice(0, brace);
  const labels: Record<string, string> = {};
  if (brace !== -1) {
    for (const match of line.slice(brace + 1, line.lastIndexOf('}')).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[match[1]!] = match[2]!;
  }
  return { name, labels, value: Number(line.slice(space + 1)) };
}
