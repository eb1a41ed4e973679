// Regression: an L2Advertisement / BGPAdvertisement whose spec.serviceSelectors does not parse was
// accepted by parseConfig, and the speaker dropped the bad selector — the advertisement then covered
// every Service. It must be a configuration error naming the object and the field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../config/index.js';

const pool = {
  apiVersion: 'metallb.io/v1beta1',
  kind: 'IPAddressPool',
  metadata: { name: 'p', namespace: 'metallb-system' },
  spec: { addresses: ['10.0.0.0/24'] },
};
const adv = (kind: string, serviceSelectors: unknown) => ({
  apiVersion: 'metallb.io/v1beta1',
  kind,
  metadata: { name: 'a', namespace: 'metallb-system' },
  spec: { ipAddressPools: ['p'], serviceSelectors },
});

describe('advertisement serviceSelectors are validated', () => {
  for (const [kind, key] of [
    ['L2Advertisement', 'l2Advertisements'],
    ['BGPAdvertisement', 'bgpAdvertisements'],
  ] as const) {
    it(`${kind}: an invalid label key is an error on the object`, () => {
      const r = parseConfig({
        ipAddressPools: [pool],
        [key]: [adv(kind, [{ matchLabels: { '-x-': 'y' } }])],
      });
      assert.equal(r.ok, false);
      assert.ok(
        !r.ok &&
          r.errors.some(
            (e) => e.kind === kind && e.objectName === 'a' && e.field.startsWith('spec.serviceSelectors[0]'),
          ),
      );
    });
    it(`${kind}: a valid selector still parses`, () => {
      const r = parseConfig({
        ipAddressPools: [pool],
        [key]: [adv(kind, [{ matchLabels: { app: 'web' } }])],
      });
      assert.equal(r.ok, true, JSON.stringify(!r.ok && r.errors.map((e) => e.message)));
    });
  }
});
