// A timer that is armed and disarmed far more often than it fires, as
// nginx's event timers are (client_header_timeout, keepalive_timeout,
// proxy_read_timeout...). Arming and disarming only move a deadline; the one
// pending Timeout re-arms itself for what is left when it fires early. A
// setTimeout()/clearTimeout() pair per request was a timer-list insert and
// removal, an allocation and garbage each time: measurable on a keep-alive
// connection answering tens of thousands of requests a second.

export class Deadline {
  private timer?: NodeJS.Timeout;
  /** when the pending Timeout fires */
  private timerAt = 0;
  /** what is armed (0: nothing) */
  private at = 0;
  private ms = 0;
  private referenced = true;

  constructor(private fire: () => void) {}

  /** Fires in ms unless armed again or disarmed first. ref=false: it does not keep the process up. */
  arm(ms: number, ref = true): void {
    const at = Date.now() + ms;
    this.at = at;
    this.ms = ms;
    if (this.referenced !== ref) {
      this.referenced = ref;
      if (ref) this.timer?.ref();
      else this.timer?.unref();
    }
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.expired, ms);
    if (!ref) this.timer.unref();
  }

  /** The same time again from now (Timeout.refresh()). */
  refresh(): void {
    if (this.at !== 0) this.arm(this.ms, this.referenced);
  }

  disarm(): void {
    this.at = 0;
  }

  get armed(): boolean {
    return this.at !== 0;
  }

  /** A new owner's callback (a connection handed on). */
  set onFire(fn: () => void) {
    this.fire = fn;
  }

  /** Nothing pending any more: nothing left to keep the process up. */
  drop(): void {
    this.at = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly expired = (): void => {
    this.timer = undefined;
    if (this.at === 0) return;
    const left = this.at - Date.now();
    if (left > 0) {
      this.timerAt = this.at;
      this.timer = setTimeout(this.expired, left);
      if (!this.referenced) this.timer.unref();
      return;
    }
    this.at = 0;
    this.fire();
  };
}
