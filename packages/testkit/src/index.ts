/**
 * @serving-cert/testkit: test serving-cert, and apps that use it, against real things: kubelet's
 * atomic volume updates on real files (and, in later releases, a real kube-apiserver with an
 * emulated platform).
 * @packageDocumentation
 */
export { writeAtomicVolume } from './volume/atomicWriter.js';
export type { AtomicWriteResult, VolumePayload } from './volume/atomicWriter.js';
