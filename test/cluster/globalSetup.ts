import type { TestProject } from 'vitest/node';
import { startControlPlane, startPlatform, type ControlPlaneConnection } from '@serving-cert/testkit';

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneConnection;
  }
}

/**
 * Starts one real kube-apiserver and etcd for the whole run, and on it the real platform
 * (cert-manager and Kyverno with the seed's policies); stops both at the end. Test files reach
 * the platform through helpers/cluster.ts's platform().
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const controlPlane = await startControlPlane();
  try {
    const platform = await startPlatform(controlPlane);
    project.provide('controlPlane', controlPlane.connection);
    return async () => {
      await platform.stop();
      await controlPlane.stop();
    };
  } catch (error) {
    await controlPlane.stop();
    throw error;
  }
}
