// The images real lab nodes run: the pod sandbox (pause), Bollard's own, and the demo web server.
import { LabError } from './errors.js';
import type { LabImages } from './lab.js';

export async function labImages(say: (line: string) => void): Promise<LabImages> {
  const fromEnv = process.env.BOLLARD_LAB_IMAGES;
  if (fromEnv) return JSON.parse(fromEnv) as LabImages;
  say('images: not built');
  return Promise.reject(new LabError('images', 'not available yet'));
}
