/**
 * The welcome's quick first run (issue 12): settings for the 400-image sample set that train in
 * under a minute on wasm with 2 cores, and still show the loss falling and kNN above random init.
 * Measured 2026-12-02, 60 steps: through the UI at load 0.0, Start to finished 16.9 s (first step
 * after 4.8 s; the estimate before Start said 12 s of training, 0.2 s/step); the CLI
 * (`train --sample --epochs 5 --image-size 16 --width 0.25 --batch 32`) at load 9.6, 57.7 s wall.
 * The estimate shown before Start is measured, not this promise.
 */
export const QUICK_RUN_SETTINGS = { epochs: '5', imageSize: '16', widthMultiplier: '0.25', batchSize: '32' } as const;
