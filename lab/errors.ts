// The lab's one error type: which host or process, and why.
export class LabError extends Error {
  constructor(
    /** The host, process or object concerned, e.g. 'node-1/kube-proxy' or 'demo/web'. */
    readonly target: string,
    readonly reason: string,
  ) {
    super(`${target}: ${reason}`);
    this.name = 'LabError';
  }
}
