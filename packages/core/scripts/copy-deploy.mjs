// The serving-cert command prints the manifests of deploy/: ship a copy inside the package.
import { cpSync, rmSync } from 'node:fs';

const from = new URL('../../../deploy/', import.meta.url);
const to = new URL('../deploy/', import.meta.url);
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
