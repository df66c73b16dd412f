/** Terminal progress: one redrawn bar on a TTY, plain lines otherwise (CI logs, pipes). */
export interface ProgressLine {
  readonly epoch: number; // 0-based
  readonly epochs: number;
  readonly step: number;
  readonly stepsPerEpoch: number;
  readonly globalStep: number;
  readonly totalSteps: number;
  readonly loss: number | null;
  readonly imagesPerSecond: number;
  readonly etaSeconds: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

export function describeProgress(p: ProgressLine): string {
  const loss = p.loss === null ? '-' : p.loss.toFixed(4);
  return `epoch ${p.epoch + 1}/${p.epochs}  step ${p.step}/${p.stepsPerEpoch}  loss ${loss}  ${p.imagesPerSecond.toFixed(1)} img/s  ETA ${formatDuration(p.etaSeconds)}`;
}

export function progressBar(fraction: number, width: number): string {
  const clamped = Math.max(0, Math.min(1, fraction));
  const filled = Math.round(clamped * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(clamped * 100).toFixed(0).padStart(3)}%`;
}

export class ProgressReporter {
  private lastPlain = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream, private readonly plainEverySeconds = 5) {}

  get interactive(): boolean {
    return this.stream.isTTY;
  }

  update(p: ProgressLine): void {
    if (this.interactive) {
      const columns = this.stream.columns || 100;
      const text = describeProgress(p);
      const barWidth = Math.max(10, Math.min(40, columns - text.length - 10));
      this.stream.write(`\r\x1b[2K${progressBar(p.globalStep / Math.max(1, p.totalSteps), barWidth)}  ${text}`.slice(0, columns + 8));
      this.drawn = true;
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain >= this.plainEverySeconds * 1000 || p.globalStep === p.totalSteps) {
      this.lastPlain = now;
      this.stream.write(`${describeProgress(p)}\n`);
    }
  }

  /**
   * A phase's progress line (the folder scan): redrawn in place on a TTY; elsewhere one line per
   * `plainEverySeconds`, and always the final one.
   */
  status(text: string, final: boolean): void {
    if (this.interactive) {
      this.stream.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
      this.drawn = !final;
      return;
    }
    const now = Date.now();
    if (final || now - this.lastPlain >= this.plainEverySeconds * 1000) {
      this.lastPlain = final ? 0 : now;
      this.stream.write(`${text}\n`);
    }
  }

  /** Prints a full line above the bar. */
  line(text: string): void {
    if (this.drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(`${text}\n`);
  }

  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
