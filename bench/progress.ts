// Progress of a long `npm run bench` on the terminal: the step (scenario,
// server or client, round i of n) and the estimated time left. On a TTY one
// line is rewritten in place (and ticks every second); otherwise each step is
// a plain line, so a log file stays readable.
import process from "node:process";

/** One planned step of the run, with its expected duration in seconds. */
export interface Step {
  /** e.g. "(a, b, c) node ws". */
  label: string;
  round: number;
  rounds: number;
  estimate: number;
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/**
 * Shows the progress of a plan of steps. The time left is the sum of the
 * remaining steps' estimates, scaled by how the steps done so far compared
 * with their own estimates (a loaded machine starts servers slower).
 */
export class Progress {
  readonly #steps: Step[];
  readonly #tty = process.stderr.isTTY === true;
  readonly #start = Date.now();
  #index = -1;
  #stepStart = 0;
  #doneEstimate = 0;
  #detail = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  #shown = false;

  constructor(steps: Step[]) {
    this.#steps = steps;
    if (this.#tty) {
      this.#timer = setInterval(() => this.#draw(), 1000);
      this.#timer.unref?.();
    }
  }

  /** Marks the start of step `index` of the plan. */
  begin(index: number): void {
    if (this.#index >= 0) this.#doneEstimate += this.#steps[this.#index].estimate;
    this.#index = index;
    this.#stepStart = Date.now();
    this.#detail = "";
    if (this.#tty) this.#draw();
    else process.stderr.write(`${this.#line()}\n`);
  }

  /** What the current step is doing now (shown on a TTY only), e.g. the client being measured. */
  detail(text: string): void {
    this.#detail = text;
    if (this.#tty) this.#draw();
  }

  /** Prints a message above the progress line. */
  warn(message: string): void {
    this.#clear();
    process.stderr.write(`${message}\n`);
    if (this.#tty && this.#index >= 0) this.#draw();
  }

  /** Removes the progress line and stops ticking. */
  finish(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#clear();
    process.stderr.write(`bench: ${this.#steps.length} steps in ${duration((Date.now() - this.#start) / 1000)}\n`);
  }

  /** Seconds left: the remaining estimates, scaled by the pace so far. */
  #left(): number {
    const elapsed = (Date.now() - this.#start) / 1000;
    const current = this.#steps[this.#index];
    const inStep = (Date.now() - this.#stepStart) / 1000;
    const pace = this.#doneEstimate > 0 ? Math.min(4, Math.max(0.5, (elapsed - inStep) / this.#doneEstimate)) : 1;
    let rest = Math.max(0, current.estimate * pace - inStep);
    for (let i = this.#index + 1; i < this.#steps.length; i++) rest += this.#steps[i].estimate * pace;
    return rest;
  }

  #line(): string {
    const step = this.#steps[this.#index];
    const detail = this.#detail === "" ? "" : `: ${this.#detail}`;
    // Time left first, so a narrow terminal cuts the label rather than the estimate.
    return `bench [${this.#index + 1}/${this.#steps.length}] ~${duration(this.#left())} left (${
      duration((Date.now() - this.#start) / 1000)
    } elapsed) · round ${step.round}/${step.rounds} · ${step.label}${detail}`;
  }

  #draw(): void {
    if (this.#index < 0) return;
    const columns = process.stderr.columns ?? 120;
    const line = this.#line();
    process.stderr.write(`\r\x1b[2K${line.length > columns - 1 ? line.slice(0, columns - 2) + "…" : line}`);
    this.#shown = true;
  }

  #clear(): void {
    if (this.#tty && this.#shown) {
      process.stderr.write("\r\x1b[2K");
      this.#shown = false;
    }
  }
}
