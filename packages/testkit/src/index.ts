/**
 * @serving-cert/testkit: test serving-cert, and apps that use it, against real things: a real
 * kube-apiserver and etcd built from Go modules, the real platform (cert-manager's controller and
 * Kyverno's admission and background controllers, built from Go modules too, running the seed's
 * policies), kubelet's atomic volume updates on real files, and a fault proxy.
 * @packageDocumentation
 */
export { connectToControlPlane, startControlPlane } from './controlPlane/controlPlane.js';
export type { ControlPlane, ControlPlaneClient, ControlPlaneConnection, ControlPlaneOptions } from './controlPlane/controlPlane.js';
export { controlPlaneAssets, envtestCacheDir, envtestCachePaths, envtestVersions } from './controlPlane/assets.js';
export type { ControlPlaneAssets, EnvtestVersions } from './controlPlane/assets.js';
export { PLATFORM, PLATFORM_POLICIES, connectToPlatform, installCrds, startPlatform } from './platform/platform.js';
export type { IssuerState, Platform, PlatformClient, PlatformClientOptions, PlatformOptions, PlatformPolicies } from './platform/platform.js';
export { SETUP_COMMAND, TestkitError } from './errors.js';
export type { TestkitErrorCode } from './errors.js';
export { setupEnvtest } from './setup/setup.js';
export type { SetupOptions, SetupResult } from './setup/setup.js';
export { platformAssets } from './platform/assets.js';
export type { PlatformAssets } from './platform/assets.js';
export { aggregateClusterRoles } from './platform/rbac.js';
export { startFaultProxy } from './faultProxy/faultProxy.js';
export type { FaultOptions, FaultProxy, ProxiedRequest } from './faultProxy/faultProxy.js';
export { writeAtomicVolume } from './volume/atomicWriter.js';
export type { AtomicWriteResult, VolumePayload } from './volume/atomicWriter.js';
export { mountServingCert } from './volume/mountedServingCert.js';
export type { MountedServingCert } from './volume/mountedServingCert.js';
export { projectSecretVolume } from './volume/projectSecretVolume.js';
export type { ProjectSecretVolumeOptions, SecretVolumeProjection } from './volume/projectSecretVolume.js';
export { LOOPBACK_PORT_ANNOTATION, startServiceNetwork } from './serviceNetwork/serviceNetwork.js';
export type { ServiceNetwork } from './serviceNetwork/serviceNetwork.js';
