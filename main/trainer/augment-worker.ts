/**
 * An augmentation worker (issue 8: the input pipeline keeping up with a GPU). Renders views whose
 * random draws were made by the trainer thread (augment-pool.ts), so a run's views are the same
 * bit for bit whether they were rendered here or there.
 */
import { parentPort } from 'node:worker_threads';
import { renderAugmentation } from '../ml/augment.js';
import type { RenderRequest, RenderReply } from './augment-pool.js';

const port = parentPort;
if (!port) throw new Error('augment-worker: must run as a worker thread');

port.on('message', (request: RenderRequest) => {
  try {
    const { config, images, params } = request;
    const perView = config.outputSize * config.outputSize * 3;
    const query = new Float32Array(images.length * perView);
    const key = new Float32Array(images.length * perView);
    images.forEach((image, i) => {
      renderAugmentation(image, config, params[i]!.query, query, i * perView);
      renderAugmentation(image, config, params[i]!.key, key, i * perView);
    });
    const reply: RenderReply = { id: request.id, query, key };
    port.postMessage(reply, [query.buffer, key.buffer]);
  } catch (error) {
    const reply: RenderReply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
    port.postMessage(reply);
  }
});
