// One async job at a time, never lost: asked while it runs, it runs once more when it ends (asks in
// between fold into that one run). What the status writers use so a change seen mid-write is written.
export class Rerun {
  private running = false;
  private dirty = false;

  constructor(
    private readonly job: () => Promise<void>,
    /** While true, no further round starts. */
    private readonly stopped: () => boolean = () => false,
  ) {}

  /** Runs the job now, or once more after the running round; resolves when this caller's round is done. */
  async run(): Promise<void> {
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.dirty = false;
        await this.job();
      } while (this.dirty && !this.stopped());
    } finally {
      this.running = false;
    }
  }
}
