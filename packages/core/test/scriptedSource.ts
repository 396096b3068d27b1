import type { MaterialSource, SourceRead } from '../src/sources/source.js';

/** A source the test drives: `next` is what a read returns, `changed()` reports a change, as a Secret watch does (once per change, nothing between). */
export type ScriptedSource = MaterialSource & { next: SourceRead; changed: () => void };

export function scriptedSource(first: SourceRead): ScriptedSource {
  const source: ScriptedSource = {
    description: 'test source',
    next: first,
    changed: () => {},
    read: () => Promise.resolve(source.next),
    watch: (onChange: () => void, signal: AbortSignal) => {
      source.changed = onChange;
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  };
  return source;
}
