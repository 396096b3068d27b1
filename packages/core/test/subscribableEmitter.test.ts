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
    expect(logger.lines).toEqual([expect.objectContaining({ level: 'error', message: expect.stringContaining("a 'rotate' listener of the app threw") as string })]);
    expect(emitter.listenerCount('rotate')).toBe(1); // the once listener is gone
    unfollow();
    emitter.emit('rotate', 'c', 'b');
    expect(heard.filter((entry) => entry === 'dispatcher')).toHaveLength(1);
  });

  it('error events keep EventEmitter semantics', () => {
    const emitter = new SubscribableEmitter(recordingLogger());
    expect(() => emitter.emit('error', new Error('unheard'))).toThrow('unheard');
  });
});
