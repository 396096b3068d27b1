import { describe, expect, it } from 'vitest';
import { servingCert } from '../helpers/cli.js';

describe('serving-cert rollover: a command line that does not say what to do changes nothing and says why', () => {
  it.each([
    ['no subcommand', ['rollover'], 'rollover takes one subcommand: status'],
    ['an unknown subcommand', ['rollover', 'start'], 'rollover takes one subcommand: status'],
    ['-n with -A', ['rollover', 'status', '-n', 'shop', '-A'], '-A/--all-namespaces and -n/--namespace exclude each other'],
    ['an unknown output', ['rollover', 'status', '-o', 'xml'], '-o/--output takes text, json, yaml, not "xml"'],
    ['an unknown flag', ['rollover', 'status', '--watch'], "Unknown option '--watch'"],
  ])('%s: exit 2 with the usage', async (_label, args, message) => {
    const result = await servingCert(args, { KUBECONFIG: '/nonexistent/kubeconfig' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('serving-cert rollover status [-n NS | -A]');
    expect(result.stdout).toBe('');
  });
});
