import { describe, expect, it } from 'vitest';
import { SubscribableEmitter } from '../src/live/subscribableEmitter.js';
import { followCertificate, type ServingCert } from '../src/types.js';
import { recordingLogger } from './recordingLogger.js';

describe('SubscribableEmitter', () => {
  it("tells serving-cert's own subscribers first; an app listener that throws is logged and stops nothing", () => {
    const logger = recordingLogger();
    const emitter = new SubscribableEmitter(logger);
    const heard: string[] = [];
    emitter.on('rotate', () => {
      heard.push('app 1');
      throw new Error('a bug in the app');
    });
    emitter.once('rotate', (next: string) => heard.push(`app once ${next}`));
    const unfollow = followCertificate(emitter as unknown as ServingCert, 'rotate', () => heard.push('dispatcher'));
    expect(emitter.emit('rotate', 'b', 'a')).toBe(true);
    expect(heard).toEqual(['dispatcher', 'app 1', 'app once b']);
    expect(logger.lines).toEqual([expect.objectContaining({ level: 'error', message: expect.stringContaining("a 'rotate' listener of the app failed") as string })]);
    expect(emitter.listenerCount('rotate')).toBe(1); // the once listener is gone
    unfollow();
    emitter.emit('rotate', 'c', 'b');
    expect(heard.filter((entry) => entry === 'dispatcher')).toHaveLength(1);
  });

  it('an async app listener that rejects is logged, not an unhandled rejection', async () => {
    const logger = recordingLogger();
    const emitter = new SubscribableEmitter(logger);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const asyncListener = async (): Promise<void> => {
        await Promise.resolve();
        throw new Error('an async bug in the app');
      };
      emitter.on('rotate', asyncListener as () => void); // what an app may well pass
      expect(emitter.emit('rotate', 'b', 'a')).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
      expect(logger.lines).toEqual([expect.objectContaining({ level: 'error', fields: expect.objectContaining({ error: 'Error: an async bug in the app' }) as object })]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('error events: thrown when nobody listens, as EventEmitter does; a listener that throws is logged, the others still hear', () => {
    const logger = recordingLogger();
    const emitter = new SubscribableEmitter(logger);
    expect(() => emitter.emit('error', new Error('unheard'))).toThrow('unheard');
    const heard: string[] = [];
    emitter.on('error', () => {
      throw new Error('a bug in the error listener');
    });
    emitter.on('error', (error: Error) => heard.push(error.message));
    expect(() => emitter.emit('error', new Error('expired'))).not.toThrow();
    expect(heard).toEqual(['expired']);
    expect(logger.lines).toEqual([expect.objectContaining({ level: 'error', message: expect.stringContaining("'error' listener of the app failed") as string })]);
  });
});
