import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { CoreV1Api, EventsV1Api, PatchStrategy, setHeaderOptions, type EventsV1Event, type V1ObjectReference } from '@kubernetes/client-node';
import type { Logger } from '../logger.js';
import { apiError, statusOf } from './apiErrors.js';
import type { ClusterAccess } from './clusterAccess.js';
import { apiClient } from './apiClient.js';

/** What {@link EventRecorder} records about. */
export interface EventTarget {
  namespace: string;
  /** The Service; `podName` (env POD_NAME) takes its place when set. */
  serviceName: string;
  podName?: string | undefined;
  /** The Pod's uid (env POD_UID from the downward API), so that `kubectl describe pod` finds the Events. */
  podUid?: string | undefined;
}

/** One Event to record. `note` is shown by `kubectl describe`: public facts only, never key material. */
export interface EventRecord {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  note: string;
}

const REPORTING_CONTROLLER = 'serving-cert';
/** The API server refuses notes over 1 kB. */
const MAX_NOTE = 1024;
/** Series kept for aggregation; past that the oldest is forgotten (its next repeat starts a new Event). */
const MAX_SERIES = 64;

/**
 * Records events.k8s.io/v1 Events, aggregated as client-go's recorder does: the first
 * occurrence creates an Event, an identical repeat (same regarding, reason, action and note)
 * patches that Event's `series` (count, lastObservedTime) instead of adding an object. Writes
 * are queued one at a time and never block the caller. When RBAC denies Events, it warns once
 * and stops: Events are optional (deploy/app-rbac.yaml, role serving-cert-events).
 */
export class EventRecorder {
  readonly #access: ClusterAccess;
  readonly #target: EventTarget;
  readonly #logger: Logger;
  readonly #series = new Map<string, { name: string; count: number }>();
  #regarding: Promise<V1ObjectReference> | undefined;
  #queue: Promise<void> = Promise.resolve();
  #disabled = false;

  constructor(access: ClusterAccess, target: EventTarget, logger: Logger) {
    this.#access = access;
    this.#target = target;
    this.#logger = logger;
  }

  /** Queues one occurrence; resolves when it is written (or given up). Never rejects. */
  record(event: EventRecord): Promise<void> {
    this.#queue = this.#queue.then(() => this.#write(event)).catch((error: unknown) => {
      this.#logger.debug({ reason: event.reason, error: String(error) }, `could not record Event ${event.reason}`);
    });
    return this.#queue;
  }

  /** Resolves once every queued write is done. */
  flush(): Promise<void> {
    return this.#queue;
  }

  async #write(event: EventRecord): Promise<void> {
    if (this.#disabled) return;
    const note = event.note.length > MAX_NOTE ? `${event.note.slice(0, MAX_NOTE - 1)}…` : event.note;
    const key = `${event.type}\n${event.reason}\n${event.action}\n${note}`;
    const api = apiClient(this.#access.kubeConfig, EventsV1Api);
    const { namespace } = this.#target;
    const now = microTime(new Date());
    const known = this.#series.get(key);
    try {
      if (known) {
        known.count += 1;
        try {
          await api.patchNamespacedEvent({ name: known.name, namespace, body: { series: { count: known.count, lastObservedTime: now } } },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
          return;
        } catch (error) {
          if (statusOf(error) !== 404) throw error;
          this.#series.delete(key); // expired (the API server keeps Events an hour): start anew
        }
      }
      const regarding = await this.#regardingObject();
      const name = `${regarding.name!}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
      const body: EventsV1Event = {
        metadata: { name, namespace },
        // MicroTime: the API wants 6 fractional digits; a Date would serialize with 3.
        eventTime: now as unknown as Date,
        type: event.type, reason: event.reason, action: event.action, note, regarding,
        reportingController: REPORTING_CONTROLLER, reportingInstance: (this.#target.podName ?? os.hostname()).slice(0, 128),
      };
      await api.createNamespacedEvent({ namespace, body });
      this.#series.set(key, { name, count: 1 });
      if (this.#series.size > MAX_SERIES) this.#series.delete(this.#series.keys().next().value!);
    } catch (error) {
      if (statusOf(error) !== 403) throw error;
      this.#disabled = true;
      const denied = apiError(error, { verb: known ? 'patch' : 'create', resource: 'events.events.k8s.io', namespace });
      this.#logger.warn({ code: denied.code, namespace }, `Kubernetes Events are not recorded: ${denied.message}. ` +
        'Events are optional: apply the serving-cert-events Role of deploy/app-rbac.yaml, or drop events: true');
    }
  }

  /** The Pod (POD_NAME) or the Service, with its uid so that `kubectl describe` lists the Events. */
  #regardingObject(): Promise<V1ObjectReference> {
    const { namespace, serviceName, podName, podUid } = this.#target;
    this.#regarding ??= podName
      ? Promise.resolve({ apiVersion: 'v1', kind: 'Pod', namespace, name: podName, ...(podUid ? { uid: podUid } : {}) })
      : apiClient(this.#access.kubeConfig, CoreV1Api).readNamespacedService({ namespace, name: serviceName })
        .then((service) => service.metadata?.uid, () => undefined)
        .then((uid) => ({ apiVersion: 'v1', kind: 'Service', namespace, name: serviceName, ...(uid ? { uid } : {}) }));
    return this.#regarding;
  }
}

/** RFC 3339 with microseconds, as metav1.MicroTime is written. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
