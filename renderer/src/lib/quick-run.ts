/**
 * The welcome's quick first run (issue 12): settings for the 400-image sample set that train in
 * about a minute on wasm with 2 cores (measured with training:estimate; see docs and the report),
 * and still show the loss falling and kNN rising over random init. The estimate shown before
 * Start is measured, not this promise.
 */
export const QUICK_RUN_SETTINGS = { epochs: '5', imageSize: '16', widthMultiplier: '0.25', batchSize: '32' } as const;
