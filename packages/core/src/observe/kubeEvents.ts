import { describeName } from '../x509/certInfo.js';
import type { ClusterAccess } from '../kube/clusterAccess.js';
import type { EventTarget } from '../kube/eventRecorder.js';
import type { Logger } from '../logger.js';
import type { LiveObserver } from '../live/observer.js';

/**
 * Kubernetes Events of a handle: ServingCertRotated (Normal), ServingCertRefused (Warning, code
 * and reason) and ServingCertWaiting (Warning, with the diagnosis, when a waiting start has one).
 * Loads @kubernetes/client-node's Events API on demand, like kube/.
 */
export async function kubeEventsObserver(access: ClusterAccess, target: EventTarget, logger: Logger): Promise<LiveObserver> {
  const { EventRecorder } = await import('../kube/index.js');
  const recorder = new EventRecorder(access, target, logger);
  return {
    served(next, previous) {
      if (!previous) return;
      void recorder.record({ type: 'Normal', reason: 'ServingCertRotated', action: 'Rotate',
        note: `serving certificate rotated: serial ${next.serialNumber} (issuer ${describeName(next.issuer, 'issuer')}, notAfter ${next.notAfter.toISOString()}), previous serial ${previous.serialNumber}` });
    },
    refused(error) {
      void recorder.record({ type: 'Warning', reason: 'ServingCertRefused', action: 'Validate', note: `${error.code}: ${error.message}` });
    },
    waiting(reasons, diagnosis) {
      if (!diagnosis) return; // the progress lines without a diagnosis stay in the log
      void recorder.record({ type: 'Warning', reason: 'ServingCertWaiting', action: 'Wait', note: `waiting for a valid serving certificate: ${reasons}. ${diagnosis}` });
    },
    closed() {
      void recorder.flush();
    },
  };
}
