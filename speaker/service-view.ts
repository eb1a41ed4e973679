// What a pass reads of the Service, EndpointSlice and Node caches, kept so that a pass over a few
// changed Services costs those Services only: the facts of every Service of ours (one facts object per
// Service object, so protocols can tell unchanged Services by identity), the endpoints by Service,
// and the facts of the Nodes.
import { EndpointIndex, serviceFactsOf, splitServiceKey } from './service-index.js';
import type { NodeFacts } from './eligibility.js';
import type { PassScope } from './pass-scheduler.js';
import type { ServiceFacts } from './protocol.js';
import { condition, internalIPs, type NodeObj, type ServiceObj } from './k8s-types.js';

/** The Service cache, as the view reads it. */
export interface ServiceSource {
  list(): ServiceObj[];
  get(namespace: string, name: string): ServiceObj | undefined;
}

export class ServiceView {
  /** Every Service of ours, by key. */
  readonly facts = new Map<string, ServiceFacts>();
  readonly endpoints = new EndpointIndex();
  // The facts of a Service object, computed once per object (the informer replaces an object when it
  // changes), so unchanged Services keep the same facts object from pass to pass.
  private readonly byObject = new WeakMap<ServiceObj, ServiceFacts | null>();

  constructor(
    private readonly services: ServiceSource,
    /** Handle only Services with this loadBalancerClass ("" = only those with none). */
    private readonly lbClass: string,
  ) {}

  /** Reads the Services in `scope` (all of them for 'all') from the cache again. */
  refresh(scope: PassScope): void {
    if (scope === 'all') {
      this.facts.clear();
      for (const s of this.services.list()) {
        const f = this.factsFor(s);
        if (f) this.facts.set(f.key, f);
      }
      return;
    }
    for (const k of scope) {
      const s = this.services.get(...splitServiceKey(k));
      const f = s ? this.factsFor(s) : undefined;
      if (f) this.facts.set(k, f);
      else this.facts.delete(k);
    }
  }

  /** The externalTrafficPolicy: Local Services (health results only matter to them). */
  localServices(): string[] {
    return [...this.facts.values()].filter((f) => f.externalTrafficPolicy === 'Local').map((f) => f.key);
  }

  private factsFor(s: ServiceObj): ServiceFacts | undefined {
    let f = this.byObject.get(s);
    if (f === undefined) {
      f = serviceFactsOf(s, this.lbClass) ?? null;
      this.byObject.set(s, f);
    }
    return f ?? undefined;
  }
}

/** The Nodes as the decisions see them: alive from membership when it runs, else from Ready. */
export function nodeFactsOf(nodes: readonly NodeObj[], live: ReadonlySet<string> | undefined): NodeFacts[] {
  return nodes.map((n) => ({
    name: n.metadata?.name ?? '',
    labels: n.metadata?.labels ?? {},
    networkUnavailable: condition(n, 'NetworkUnavailable') === 'True',
    alive: live ? live.has(n.metadata?.name ?? '') : condition(n, 'Ready') === 'True',
  }));
}

/** What the decisions read of a Node: labels, Ready, NetworkUnavailable, InternalIPs. */
export function nodeSignature(n: NodeObj): string {
  return JSON.stringify([
    n.metadata?.labels ?? {},
    condition(n, 'Ready'),
    condition(n, 'NetworkUnavailable'),
    internalIPs(n),
  ]);
}
