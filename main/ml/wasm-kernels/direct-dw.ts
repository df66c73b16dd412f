/**
 * dW of a convolution as sums of outer products of NHWC pixels, on the assembled outer-product
 * kernel (gemm-module.ts), in place on the wasm heap (issue 9):
 *
 *   dW[a, b, :, :] = sum over images n and outputs (oh, ow) whose tap (a, b) falls inside x of
 *                    x[n, oh*sh + a - top, ow*sw + b - left, :] (outer) dy[n, oh, ow, :]
 *
 * For one tap the valid outputs form a rectangle, and both operands' rows step by constant
 * strides over it (images, output rows, output columns), so each tap of each block of images is
 * one kernel call. No im2col, no transposes, nothing packed: the XNNPACK route built a transposed
 * im2col matrix and XNNPACK packed dy afresh every call.
 *
 * Blocks of whole images per call: at most `directDwOptions.blockPositions` output pixels and
 * `blockBytes` of x and dy together (at least one image). Each call loads and stores its tap of
 * dW once; the block keeps the rows that a 4 x 8 block of C streams in L1/L2 (unblocked, [64, 64]
 * x 8192 rows measured 18-21 GFLOP/s against 24-26; per layer, 256 positions and 256 KB were
 * within noise of the best of 32-4096 positions and 64 KB-1 GB, `.prof` microbenchmarks).
 */
import * as tf from '@tensorflow/tfjs-core';
import { gemmKernels, gemmRuns } from './gemm-module.js';
import { backendMemory, offsetBytes, zeros, release, type WasmBackend } from './kernel-utils.js';

export const directDwOptions = { enabled: true, blockPositions: 256, blockBytes: 256 * 1024 };

/** Whether the kernel's shape rules allow this conv: float32, Ci a multiple of 4, Co of 8, no dilation. */
export function directDwApplies(dtypes: readonly string[], info: tf.backend_util.Conv2DInfo): boolean {
  // Positive counts too: the kernel's loops run at least once.
  return directDwOptions.enabled && dtypes.every((d) => d === 'float32') && info.inChannels > 0 && info.outChannels > 0
    && info.inChannels % 4 === 0 && info.outChannels % 8 === 0 && info.dilationHeight === 1 && info.dilationWidth === 1;
}

/** [first, end) of the outputs o in [0, outSize) whose input o*s + k - pad lies in [0, inSize). */
function validRange(outSize: number, inSize: number, k: number, s: number, pad: number): [number, number] {
  const first = Math.max(0, Math.ceil((pad - k) / s));
  const end = Math.min(outSize, Math.floor((inSize - 1 + pad - k) / s) + 1);
  return [first, Math.max(first, end)];
}

/** dW [KH, KW, Ci, Co] of x [N, H, W, Ci] and dy [N, Ho, Wo, Co], or null where the runtime has no such kernel. */
export function directFilterGradient(
  backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo | null {
  const memory = backendMemory(backend);
  const kernel = memory === undefined ? null : gemmKernels(memory);
  if (kernel === null) return null;
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const dw = zeros(backend, [kh, kw, ci, co]);
  gemmRuns.directDw++;
  try {
    const x0 = offsetBytes(backend, x), dy0 = offsetBytes(backend, dy), dw0 = offsetBytes(backend, dw);
    const xImage = h * w * ci * 4, dyImage = ho * wo * co * 4;
    const images = Math.max(1, Math.min(Math.floor(directDwOptions.blockPositions / (ho * wo)), Math.floor(directDwOptions.blockBytes / (xImage + dyImage))));
    for (let n0 = 0; n0 < n; n0 += images) {
      const count = Math.min(images, n - n0);
      for (let a = 0; a < kh; a++) {
        const [oh0, oh1] = validRange(ho, h, a, sh, top);
        if (oh1 === oh0) continue;
        for (let b = 0; b < kw; b++) {
          const [ow0, ow1] = validRange(wo, w, b, sw, left);
          if (ow1 === ow0) continue;
          const xAt = x0 + n0 * xImage + ((oh0 * sh + a - top) * w + (ow0 * sw + b - left)) * ci * 4;
          const dyAt = dy0 + n0 * dyImage + (oh0 * wo + ow0) * co * 4;
          kernel.accumulate(
            xAt, dyAt, dw0 + (a * kw + b) * ci * co * 4, ci, co, count, oh1 - oh0, ow1 - ow0,
            xImage, sh * w * ci * 4, sw * ci * 4, dyImage, wo * co * 4, co * 4, co * 4,
          );
        }
      }
    }
  } catch (e) {
    release(backend, dw);
    throw e;
  }
  return dw;
}
