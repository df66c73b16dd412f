/**
 * What the UI needs to rebuild the Training view of the run training now (issue 12 item 2): the
 * latest event of each kind that describes the run's state (the metric history is on disk, read
 * by runs:open). A reloaded page asks `training:status` and replays these.
 */
import type { TrainerEvent } from '../../shared/trainer-protocol.js';

/** Kinds whose latest event is the run's current value. */
const STICKY = new Set<TrainerEvent['type']>(['state', 'backend', 'settings', 'loading', 'dataset', 'progress', 'preview', 'baselines', 'plateau', 'checkpoint']);
const MAX_WARNINGS = 20;

export class LiveRunSnapshot {
  private readonly latest = new Map<TrainerEvent['type'], TrainerEvent>();
  private warnings: TrainerEvent[] = [];
  private done: TrainerEvent | null = null;

  constructor(readonly runId: string) {}

  record(event: TrainerEvent): void {
    if (event.type === 'done') this.done = event;
    else if (STICKY.has(event.type)) this.latest.set(event.type, event);
    else if (event.type === 'warning') this.warnings = [...this.warnings.slice(-(MAX_WARNINGS - 1)), event];
  }

  /**
   * Events in the order a fresh view should apply them: state last, so nothing overrides it, and
   * the run's `done` after it. The trainer lives on for a moment after `done` (it exits soon
   * after, main/trainer/entry.ts), and a page reloaded in that moment showed the finished run as
   * still training, for good (seen in runs.spec's reopen test).
   */
  events(): TrainerEvent[] {
    const ordered = [...this.latest.values()].filter((e) => e.type !== 'state');
    const state = this.latest.get('state');
    return [...ordered, ...this.warnings, ...(state ? [state] : []), ...(this.done ? [this.done] : [])];
  }
}
