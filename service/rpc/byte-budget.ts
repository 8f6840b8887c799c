// A server-wide budget of bytes held for clients that have not finished sending: partial frames
// in the deframers, fragments of requests being reassembled, fragments queued behind an auth
// step. Each connection reports what it holds; one that would take the total past the budget is
// refused (fault, closed), not the others.

export class ByteBudget {
  readonly max: number;
  used = 0;

  constructor(max: number) {
    this.max = max;
  }

  /**
   * Moves one holder's count from `was` to `now`. Growing past the budget is refused (false) and
   * changes nothing; shrinking always succeeds.
   */
  update(was: number, now: number): boolean {
    const next = this.used - was + now;
    if (now > was && next > this.max) return false;
    this.used = next;
    return true;
  }
}
