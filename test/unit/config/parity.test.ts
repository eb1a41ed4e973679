// Parity of verdicts with MetalLB v0.16: one case per rule, each naming where MetalLB has the rule.
// A case is either refused (the exact errors, naming object and field) or accepted (the model it
// builds, and any warnings). docs/migration.md's table points at these cases by name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, summarizeErrors } from '../../../config/parse.js';
import type { CRObject, Config, ConfigInput } from '../../../config/types.js';

const NS = 'metallb-system';

interface ParityCase {
  /** The rule, as docs/migration.md names it. */
  readonly rule: string;
  /** Where MetalLB has it (file: function), for the reader. */
  readonly metallb: string;
  readonly input: ConfigInput;
  readonly expect:
    | { readonly errors: readonly string[] }
    | {
        readonly ok: true;
        readonly warnings?: readonly string[];
        readonly check?: (c: Config) => void;
      };
}

function cr(name: string, spec: Record<string, unknown>, labels?: Record<string, string>): CRObject {
  return { metadata: { name, namespace: NS, ...(labels ? { labels } : {}) }, spec };
}

/** A BGPPeer spec with the required fields, overridden by `spec`. */
function peer(name: string, spec: Record<string, unknown> = {}): CRObject {
  return cr(name, { myASN: 64500, peerASN: 64501, peerAddress: '10.0.0.1', ...spec });
}

function runCases(cases: readonly ParityCase[]): void {
  for (const c of cases) {
    it(c.rule, () => {
      const r = parseConfig(c.input);
      if ('errors' in c.expect) {
        assert.equal(r.ok, false, `expected a refusal (MetalLB: ${c.metallb})`);
        if (!r.ok)
          assert.deepEqual(
            r.errors.map((e) => e.message),
            c.expect.errors,
          );
        return;
      }
      if (!r.ok) assert.fail(`expected acceptance (MetalLB: ${c.metallb}):\n${summarizeErrors(r.errors)}`);
      assert.deepEqual(
        r.warnings.map((w) => w.message),
        c.expect.warnings ?? [],
      );
      c.expect.check?.(r.config);
    });
  }
}

describe('parity: BGPPeer', () => {
  runCases([
    {
      rule: 'disableMP is a deprecated no-op with a warning, not dualStackAddressFamily',
      metallb:
        'internal/k8s/webhooks/webhookv1beta2/bgppeer_webhook.go: validatePeerCreate (warning); api/v1beta2/bgppeer_types.go: DisableMP deprecated',
      input: { bgpPeers: [peer('p', { disableMP: true })] },
      expect: {
        ok: true,
        warnings: [
          'BGPPeer metallb-system/p: spec.disableMP: deprecated and has no effect; use dualStackAddressFamily to carry both families',
        ],
        check: (c) => assert.equal(c.peers.get('p')?.dualStackAddressFamily, false),
      },
    },
  ]);
});
