/**
 * @serving-cert/testkit: test serving-cert, and apps that use it, against real things: a real
 * kube-apiserver and etcd built from Go modules, an emulator of the platform's Kyverno policies
 * and cert-manager CA issuer, kubelet's atomic volume updates on real files, and a fault proxy.
 * @packageDocumentation
 */
export { connectToControlPlane, startControlPlane } from './controlPlane/controlPlane.js';
export type { ControlPlane, ControlPlaneClient, ControlPlaneConnection, ControlPlaneOptions } from './controlPlane/controlPlane.js';
export { controlPlaneAssets, envtestCacheDir, envtestVersions } from './controlPlane/assets.js';
export type { ControlPlaneAssets, EnvtestVersions } from './controlPlane/assets.js';
export { PLATFORM, installCrds, startPlatform } from './platform/platform.js';
export type { Platform, PlatformOptions, PlatformPolicies } from './platform/platform.js';
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
