import type { Linter } from 'eslint';

/** Flat-config entries that keep imports inside packages/core/src in the direction of the data path. */
export function coreLayering(root?: string): Linter.Config[];
