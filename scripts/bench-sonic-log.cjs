// Preloaded by scripts/bench.mjs (node -r) into a nodinx process for the
// end-to-end log bench: its access logs are written by sonic-boom, pino's
// destination, instead of nodinx's writer. Not used by nodinx itself.
const path = require('node:path');
const SonicBoom = require('sonic-boom');
const logFile = require(path.join(__dirname, '..', 'dist/http/log-file.js'));

class SonicLogFile {
  constructor(file, onError, buffer = 0, flushMs = 0) {
    this.path = file;
    this.lastUse = Date.now();
    this.s = new SonicBoom({
      dest: file, append: true, contentMode: 'buffer', minLength: buffer,
      maxWrite: Math.max(1024 * 1024, 2 * buffer), periodicFlush: flushMs, sync: false,
    });
    this.s.on('error', (e) => onError(`write() to "${file}" failed (${e.message})`));
  }
  open() {
    return true; // sonic-boom opens the file itself
  }
  write(line) {
    this.lastUse = Date.now();
    this.s.write(Buffer.from(line, 'latin1'));
  }
  flush() {
    this.s.flush();
  }
  reopen() {
    this.s.reopen();
    return undefined;
  }
  close() {
    this.s.end();
  }
}

logFile.LogFile = SonicLogFile;
