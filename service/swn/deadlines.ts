// One timer for many deadlines: keep-alive timeouts of pending AsyncNotify calls and the
// unused-registration reaper share a binary min-heap and a single setTimeout armed for the
// earliest entry (DESIGN: no timer per registration; tens of thousands of clients).

export interface DeadlineEntry {
  at: number;
  fire: () => void;
  /** Set by cancel(); cancelled entries are dropped lazily when they reach the top. */
  cancelled: boolean;
}

export class DeadlineQueue {
  private heap: DeadlineEntry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  get size(): number {
    return this.heap.length;
  }

  add(at: number, fire: () => void): DeadlineEntry {
    const e: DeadlineEntry = { at, fire, cancelled: false };
    this.heap.push(e);
    this.up(this.heap.length - 1);
    this.arm();
    return e;
  }

  cancel(e: DeadlineEntry | null | undefined): void {
    if (e) e.cancelled = true;
  }

  /** Fires every due entry; called by the timer, and directly by tests with a fake clock. */
  runDue(): void {
    const now = this.now();
    for (;;) {
      const top = this.heap[0];
      if (!top || (top.at > now && !top.cancelled)) break;
      this.pop();
      if (!top.cancelled) top.fire();
    }
    this.arm();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.heap = [];
    this.armedFor = Infinity;
  }

  private arm(): void {
    // Drop cancelled entries at the top so they don't keep a timer armed.
    while (this.heap[0]?.cancelled === true) this.pop();
    const next = this.heap[0]?.at ?? Infinity;
    if (next === this.armedFor) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = next;
    if (next === Infinity) return;
    const delay = Math.max(0, Math.min(next - this.now(), 2_147_000_000));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.armedFor = Infinity;
      this.runDue();
    }, delay);
    this.timer.unref();
  }

  private pop(): DeadlineEntry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    const h = this.heap;
    for (;;) {
      const p = (i - 1) >> 1;
      const hi = h[i];
      const hp = h[p];
      if (i === 0 || !hi || !hp || hp.at <= hi.at) return;
      h[i] = hp;
      h[p] = hi;
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if ((h[l]?.at ?? Infinity) < (h[m]?.at ?? Infinity)) m = l;
      if ((h[r]?.at ?? Infinity) < (h[m]?.at ?? Infinity)) m = r;
      if (m === i) return;
      const a = h[i];
      const b = h[m];
      if (!a || !b) return;
      h[i] = b;
      h[m] = a;
      i = m;
    }
  }
}
