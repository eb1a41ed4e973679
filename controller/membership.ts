// The memberlist Secret the speakers use to encrypt membership traffic: created once when missing.
import { randomBytes } from 'node:crypto';
import { ApiError, resourcePath, RESOURCES, type KubeClient } from '../k8s/client.js';

export const MEMBERLIST_SECRET = 'memberlist';
export const MEMBERLIST_KEY = 'secretkey';

/** Creates Secret `memberlist` (key `secretkey`, 128 random bytes) unless it exists. Returns whether it created it. */
export async function ensureMemberlistSecret(client: KubeClient, namespace: string): Promise<boolean> {
  try {
    await client.get(resourcePath(RESOURCES.secrets, namespace, MEMBERLIST_SECRET));
    return false;
  } catch (err) {
    if (!(err instanceof ApiError) || !err.notFound) throw err;
  }
  try {
    await client.create(resourcePath(RESOURCES.secrets, namespace), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: MEMBERLIST_SECRET, namespace, labels: { 'app.kubernetes.io/part-of': 'bollard' } },
      type: 'Opaque',
      data: { [MEMBERLIST_KEY]: randomBytes(128).toString('base64') },
    });
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.conflict) return false; // another replica made it first
    throw err;
  }
}
