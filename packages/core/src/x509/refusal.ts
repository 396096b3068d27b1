import { ServingCertError, type ServingCertErrorCode } from '../errors.js';

/** One reason a bundle was refused. */
export interface Problem {
  code: ServingCertErrorCode;
  message: string;
}

/** Collects every reason to refuse a bundle, then throws them as one error. */
export class Refusal {
  readonly problems: Problem[] = [];
  add(code: ServingCertErrorCode, message: string): void {
    this.problems.push({ code, message });
  }
  throwIfAny(description: string): void {
    const [first] = this.problems;
    if (!first) return;
    const text = this.problems.map((problem) => problem.message).join('; ');
    throw new ServingCertError(first.code, `${description}: ${text}`, {
      details: { source: description, problems: this.problems },
    });
  }
}
