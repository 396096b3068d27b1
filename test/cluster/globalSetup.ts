import type { TestProject } from 'vitest/node';
import { startControlPlane, type ControlPlaneConnection } from '@serving-cert/testkit';

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneConnection;
  }
}

/** Starts one real kube-apiserver and etcd for the whole run and stops them at its end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const controlPlane = await startControlPlane();
  project.provide('controlPlane', controlPlane.connection);
  return () => controlPlane.stop();
}
