import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, NGINX, ROOT, run } from './helpers/nodinx';

// The binary as scripts use nginx's: options, messages, exit statuses,
// compared with Debian's nginx where both can run the same thing.

let dir: string;
const node = process.execPath;
const nodinx = (args: string[], cwd?: string) => run(node, [BIN, ...args], { cwd });

beforeAll(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nodinx-cli-')));
  fs.mkdirSync(path.join(dir, 'logs'));
  fs.mkdirSync(path.join(dir, 'conf'));
  fs.writeFileSync(path.join(dir, 'conf/nginx.conf'), 'events {}\ninclude extra.conf;\n');
  fs.writeFileSync(path.join(dir, 'conf/extra.conf'), '# extra\nworker_processes 1;\n');
  fs.writeFileSync(path.join(dir, 'conf/bad.conf'), 'events {}\n\nbogus on;\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('nodinx command line', () => {
  it('-v prints the version on stderr and exits 0', () => {
    const r = nodinx(['-v']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^nodinx version: nodinx\/\d+\.\d+\.\d+ \(nginx\/1\.22\.1\)\n$/);
  });

  it('-V lists configure arguments in nginx vocabulary, true to what nodinx has', () => {
    const r = nodinx(['-V']);
    expect(r.status).toBe(0);
    const args = r.stderr.split('\n').find((l) => l.startsWith('configure arguments: '))!;
    expect(args).toContain('--conf-path=conf/nginx.conf');
    // nodinx has no ssi module yet, and says so as a nginx built without it would
    expect(args).toContain('--without-http_ssi_module');
    expect(args).not.toContain('--without-http_gzip_module');
    expect(args).toContain('--with-http_gzip_static_module');
    expect(args).not.toContain('--without-http_index_module');
    // the same line shape as nginx's own -V
    expect(run(NGINX, ['-V']).stderr).toMatch(/^configure arguments: --/m);
  });

  it('-h prints the usage', () => {
    const r = nodinx(['-h']);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('Usage: nodinx [-?hvVtTq] [-s signal] [-p prefix]');
  });

  it.each([
    [['-x'], 'invalid option: "x"'],
    [['foo'], 'invalid option: "foo"'],
    [['-p'], 'option "-p" requires directory name'],
    [['-c'], 'option "-c" requires file name'],
    [['-e'], 'option "-e" requires file name'],
    [['-g'], 'option "-g" requires parameter'],
    [['-s'], 'option "-s" requires parameter'],
    [['-s', 'foo'], 'invalid option: "-s foo"'],
  ])('%j is refused as nginx refuses it', (args, message) => {
    const ours = nodinx(args);
    const theirs = run(NGINX, args);
    expect(ours.status).toBe(1);
    expect(theirs.status).toBe(1);
    expect(theirs.stderr).toBe(`nginx: ${message}\n`);
    expect(ours.stderr).toBe(`nodinx: ${message}\n`);
  });

  it('-t prints nginx two lines; -q only errors', () => {
    const args = ['-t', '-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', 'conf/nginx.conf'];
    const conf = path.join(dir, 'conf/nginx.conf');
    const ok = nodinx(args);
    expect(ok.status).toBe(0);
    expect(ok.stderr).toBe(`nodinx: the configuration file ${conf} syntax is ok\nnodinx: configuration file ${conf} test is successful\n`);
    expect(run(NGINX, args).stderr).toBe(ok.stderr.replace(/nodinx: /g, 'nginx: '));
    expect(nodinx([...args, '-q']).stderr).toBe('');
    const bad = [...args, '-c', 'conf/bad.conf'];
    const badConf = path.join(dir, 'conf/bad.conf');
    const fail = nodinx(bad);
    expect(fail.status).toBe(1);
    expect(fail.stderr).toBe(`nodinx: [emerg] unknown directive "bogus" in ${badConf}:3\nnodinx: configuration file ${badConf} test failed\n`);
    expect(run(NGINX, bad).stderr).toBe(fail.stderr.replace(/nodinx: /g, 'nginx: '));
  });

  it('-T dumps every file under nginx header, as nginx does', () => {
    const args = ['-T', '-q', '-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', 'conf/nginx.conf'];
    const ours = nodinx(args);
    expect(ours.status).toBe(0);
    expect(ours.stdout).toBe(run(NGINX, args).stdout);
    expect(ours.stdout).toContain(`# configuration file ${path.join(dir, 'conf/extra.conf')}:\n# extra\n`);
  });

  it('-g directives come first and are reported "in command line"', () => {
    const args = ['-t', '-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', 'conf/nginx.conf'];
    for (const g of ['daemon off', 'daemon off; bogus;', 'events {}', 'daemon off; daemon on;']) {
      const ours = nodinx([...args, '-g', g]);
      const theirs = run(NGINX, [...args, '-g', g]);
      expect(ours.status).toBe(theirs.status);
      expect(ours.stderr.split('\n')[0].replace(/^nodinx/, 'nginx')).toBe(theirs.stderr.split('\n')[0]);
    }
  });

  it('runs by absolute path from any directory, and as "nginx" through a symlink', () => {
    const link = path.join(dir, 'nginx');
    fs.symlinkSync(BIN, link);
    const r = run(link, ['-t', '-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', 'conf/bad.conf'], { cwd: os.tmpdir() });
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`nginx: [emerg] unknown directive "bogus" in ${path.join(dir, 'conf/bad.conf')}:3`);
    const v = run(BIN, ['-v'], { cwd: '/' });
    expect(v.status).toBe(0);
  });

  it('defaults to the repository as prefix and conf/nginx.conf', () => {
    const r = nodinx(['-t', '-e', 'stderr'], os.tmpdir());
    expect(r.stderr).toContain(`configuration file ${path.join(ROOT, 'conf/nginx.conf')} test is successful`);
  });

  it('-s reports a missing, invalid or stale pid file as nginx does', () => {
    const pid = path.join(dir, 'logs/test.pid');
    fs.writeFileSync(path.join(dir, 'conf/pid.conf'), `events {}\npid ${pid};\n`);
    const args = ['-p', dir + '/', '-e', path.join(dir, 'logs/error.log'), '-c', 'conf/pid.conf', '-s', 'reload'];
    const cases: Array<[string | undefined, string]> = [
      [undefined, `[error] open() "${pid}" failed (2: No such file or directory)`],
      ['abc\n', `[error] invalid PID number "abc" in "${pid}"`],
      ['999999\n', '[alert] kill(999999, 1) failed (3: No such process)'],
    ];
    for (const [content, message] of cases) {
      if (content === undefined) fs.rmSync(pid, { force: true });
      else fs.writeFileSync(pid, content);
      const ours = nodinx(args);
      const theirs = run(NGINX, args);
      expect(theirs.stderr.trim()).toBe(`nginx: ${message}`);
      expect(ours.stderr.trim()).toBe(`nodinx: ${message}`);
      expect(ours.status).toBe(1);
    }
  });

  it('parse prints crossplane JSON with includes resolved', () => {
    const r = nodinx(['parse', '-p', dir + '/']);
    expect(r.status).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.status).toBe('ok');
    expect(json.config.map((c: { file: string }) => c.file)).toEqual([path.join(dir, 'conf/nginx.conf'), path.join(dir, 'conf/extra.conf')]);
    expect(json.config[0].parsed[1]).toEqual({ directive: 'include', line: 2, args: ['extra.conf'], includes: [1] });
    expect(json.config[1].parsed[0]).toEqual({ directive: 'worker_processes', line: 2, args: ['1'] });
    const bad = JSON.parse(nodinx(['parse', '-p', dir + '/', '-c', 'conf/nope.conf']).stdout);
    expect(bad.status).toBe('failed');
    expect(bad.errors[0].error).toContain('No such file or directory');
  });
});
