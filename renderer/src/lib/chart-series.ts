import type { SeriesPoint } from './decimate';

export interface ChartSeries {
  label: string;
  data: readonly SeriesPoint[];
  color: string;
  dashed?: boolean;
  /** Draw a point marker for each value (sparse series such as per-epoch kNN). */
  points?: boolean;
}
