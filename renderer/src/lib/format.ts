export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function formatNumber(value: unknown, digits = 3): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  if (Number.isInteger(value)) return String(value);
  if (Math.abs(value) >= 1000 || Math.abs(value) < 1e-3) return value.toExponential(2);
  return value.toFixed(digits).replace(/\.?0+$/, '');
}

export function formatPercent(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? `${(value * 100).toFixed(1)} %` : '–';
}

export function formatDate(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** Crop parameters of an augmentation preview, one per line, for a title tooltip. */
export function describeParams(params: Record<string, unknown>): string {
  return Object.entries(params).map(([key, value]) => {
    const text = typeof value === 'number' ? formatNumber(value) : Array.isArray(value) ? value.map((v) => formatNumber(v)).join(', ') : JSON.stringify(value);
    return `${key}: ${text}`;
  }).join('\n');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * One augmentation's parameters (main/ml/augment.ts AugmentationParams) in words, one per line
 * (issue 12 item 8: the tooltips were raw JSON). Unknown shapes fall back to describeParams.
 */
export function describeAugmentation(params: Record<string, unknown>): string {
  const { crop, jitter } = params;
  if (!isRecord(crop) || !isRecord(jitter)) return describeParams(params);
  const lines = [`crop ${formatNumber(crop.width)}×${formatNumber(crop.height)} px at (${formatNumber(crop.x)}, ${formatNumber(crop.y)})${params.cropFallback === true ? ' (centre crop fallback)' : ''}`];
  if (jitter.applied === true) {
    const hue = typeof jitter.hue === 'number' ? `${jitter.hue >= 0 ? '+' : ''}${formatNumber(jitter.hue)} turn` : '–';
    lines.push(`colour jitter: brightness ×${formatNumber(jitter.brightness)}, contrast ×${formatNumber(jitter.contrast)}, saturation ×${formatNumber(jitter.saturation)}, hue ${hue}`);
  } else lines.push('no colour jitter');
  if (params.grayscale === true) lines.push('grayscale');
  lines.push(typeof params.blurSigmaPixels === 'number' ? `blur σ ${formatNumber(params.blurSigmaPixels)} px` : 'no blur');
  lines.push(params.flipped === true ? 'flipped left-right' : 'not flipped');
  return lines.join('\n');
}
