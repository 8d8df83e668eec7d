// Messages are byte strings (see conf/bytes.ts) and are written as bytes.
// What nodinx says on its terminal: "nginx: [emerg] …" when called as nginx
// (scripts grep for that), "nodinx: …" otherwise. A daemon has no terminal
// once it is running, so it goes quiet then, as nginx's does.

export class Console {
  private quiet = false;

  constructor(readonly progName: string) {
    // a closed terminal must not kill a daemon
    process.stderr.on('error', () => {
      this.quiet = true;
    });
  }

  /** a line to stderr, after the program name */
  error(text: string): void {
    if (!this.quiet) process.stderr.write(Buffer.from(`${this.progName}: ${text}\n`, 'latin1'));
  }

  detach(): void {
    this.quiet = true;
  }
}
