// Bollard installed by `kubectl apply -k` of deploy/ (the image set by a kustomize overlay, as
// docs/install.md shows) on real kubelet nodes: every pod Ready from the image, the VIPs answer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { packageVersion } from '../../lab/image/index.js';
import { startLab, type Lab } from '../support/lab.js';
import { vipsOf } from '../support/lab-probes.js';
import { awaitAnnouncers, awaitServing, bollardPods } from './support.js';

describe('cluster: Bollard installed by kustomize on real kubelet nodes', () => {
  let lab: Lab;

  before(async () => {
    lab = await startLab({ nodes: 2, router: 'frr', install: 'kustomize', demo: true });
  });
  after(async () => {
    await lab?.stop();
  });

  it('runs every pod Ready from the image the overlay sets', async () => {
    const pods = [...(await bollardPods(lab, 'speaker')), ...(await bollardPods(lab, 'controller'))];
    assert.equal(pods.length, 2 + 2);
    for (const p of pods) {
      assert.ok(p.ready, `${p.name} Ready`);
      assert.deepEqual(p.images, [`docker.io/bollard/bollard:${packageVersion()}`]);
    }
  });

  it('answers the layer 2 VIPs from the client and the BGP VIP from behind FRR over both nodes', async () => {
    const [l2v4 = '', l2v6 = ''] = await vipsOf(lab, 'demo/web', 2);
    const [bgpv4 = ''] = await vipsOf(lab, 'demo/web-bgp', 1);
    await awaitServing(lab, 'client', l2v4);
    await awaitServing(lab, 'client', l2v6);
    await awaitAnnouncers(lab, bgpv4, ['node-1', 'node-2']);
    await awaitServing(lab, 'external', bgpv4);
  });
});
