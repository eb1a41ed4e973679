// A packet sniffer in one network namespace host: `tcpdump -l -n` on an interface, its decoded lines
// written to a log file as they arrive. Tests await a packet (`waitLines`) as the positive marker of
// an event on the wire — "the speaker dialled through this device", "the SYN died at the next hop" —
// instead of waiting a while and inferring it from an absence.
import { readFileSync } from 'node:fs';
import { waitFor, type ManagedProcess } from '../../lab/process.js';

/** What the sniffer needs of a host: a netns Host, or a lab host. */
export interface SniffHost {
  readonly name: string;
  spawn(cmd: string, args: readonly string[], opts: { name: string; logFile: string }): ManagedProcess;
}

export class Sniffer {
  private constructor(
    private readonly proc: ManagedProcess,
    readonly logFile: string,
  ) {}

  /** Starts tcpdump on `iface` in `host` with `filter` (tcpdump syntax); resolves once it is listening. */
  static async start(
    host: SniffHost,
    iface: string,
    filter: readonly string[],
    logFile: string,
    verbose = false,
  ): Promise<Sniffer> {
    const proc = host.spawn(
      'tcpdump',
      ['-i', iface, '-l', '-n', '--immediate-mode', ...(verbose ? ['-v'] : []), ...filter],
      { name: `${host.name}/tcpdump-${iface}`, logFile },
    );
    const s = new Sniffer(proc, logFile);
    await proc.whileRunning(
      waitFor('tcpdump listening', () => (s.text().includes('listening on') ? true : undefined), 20_000, 50),
    );
    return s;
  }

  text(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Lines (packets, and with -v their continuation lines) matching `re`. */
  lines(re: RegExp): string[] {
    return this.text()
      .split('\n')
      .filter((l) => re.test(l));
  }

  /** Resolves with the matching lines once `pred` holds of them. */
  async waitLines(
    what: string,
    re: RegExp,
    pred: (lines: string[]) => boolean,
    timeoutMs = 60_000,
  ): Promise<string[]> {
    return this.proc.whileRunning(
      waitFor(
        what,
        () => {
          const l = this.lines(re);
          return pred(l) ? l : undefined;
        },
        timeoutMs,
        50,
      ),
    );
  }

  async stop(): Promise<void> {
    await this.proc.stop(2000);
  }
}
