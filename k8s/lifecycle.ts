// How both programs end: the first SIGTERM or SIGINT stops the running component (withdrawing what it
// announces, releasing its lease), then the process exits.
export interface Stoppable {
  stop(): Promise<void>;
}

export function stopOnSignals(
  component: Stoppable,
  signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'],
): void {
  let stopping = false;
  for (const sig of signals) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      component.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}
