import { ensurePackages } from '../global-setup';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, waitForPort } from './ports';
import { tempDir } from './http';

// Debian's tomcat10 as a real backend: instances of our own, each with a
// CATALINA_BASE of its own (Debian's conf skeleton, a server.xml on a free
// port with jvmRoute = the instance's name, a one-page webapp), run in the
// foreground by the test and stopped by it.

export const CATALINA_HOME = '/usr/share/tomcat10';
/** Debian keeps the conf skeleton here (not in CATALINA_HOME/conf) */
const SKELETON = path.join(CATALINA_HOME, 'etc');

/** Installs Debian's tomcat10 (and Java) when missing, without letting the package start it. */
export function ensureTomcat(): void {
  ensurePackages({ [path.join(CATALINA_HOME, 'bin/catalina.sh')]: 'tomcat10' });
}

/**
 * The page every instance serves at /: its name, the session id and how
 * many times this session asked, counted in the HttpSession.
 */
export const INDEX_JSP = `<%@ page contentType="text/plain; charset=UTF-8" %><%
Integer count = (Integer) session.getAttribute("count");
count = count == null ? 1 : count + 1;
session.setAttribute("count", count);
%>from <%= System.getProperty("nodinx.instance") %>
session: <%= session.getId() %>
count: <%= count %>
`;

function serverXml(port: number, jvmRoute: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="${port}" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000" />
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="${jvmRoute}">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" />
    </Engine>
  </Service>
</Server>
`;
}

export interface Tomcat {
  name: string;
  port: number;
  /** "127.0.0.1:PORT" */
  addr: string;
  base: string;
  stop(): Promise<void>;
}

/** One instance, in the foreground; resolves once its connector accepts connections. */
export async function startTomcat(name: string, files: Record<string, string> = { 'ROOT/index.jsp': INDEX_JSP }): Promise<Tomcat> {
  ensureTomcat();
  const port = await freePort();
  const base = tempDir(`tomcat-${name}`);
  for (const d of ['conf', 'logs', 'temp', 'work', 'webapps']) fs.mkdirSync(path.join(base, d));
  for (const f of ['web.xml', 'context.xml', 'logging.properties', 'catalina.properties']) {
    fs.copyFileSync(path.join(SKELETON, f), path.join(base, 'conf', f));
  }
  // scanning every jar for TLDs and annotations is most of Tomcat's start-up time; the page needs none
  fs.appendFileSync(path.join(base, 'conf/catalina.properties'), '\ntomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar\n');
  fs.writeFileSync(path.join(base, 'conf/server.xml'), serverXml(port, name));
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(base, 'webapps', file)), { recursive: true });
    fs.writeFileSync(path.join(base, 'webapps', file), text);
  }
  const child: ChildProcess = spawn(path.join(CATALINA_HOME, 'bin/catalina.sh'), ['run'], {
    env: {
      PATH: process.env.PATH,
      CATALINA_HOME,
      CATALINA_BASE: base,
      CATALINA_TMPDIR: path.join(base, 'temp'),
      JAVA_OPTS: `-Dnodinx.instance=${name} -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.security.egd=file:/dev/./urandom`,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([waitForPort(port, 60000), exited.then(() => {
      throw new Error(`tomcat ${name} exited: ${stderr}`);
    })]);
  } catch (e) {
    child.kill('SIGKILL');
    fs.rmSync(base, { recursive: true, force: true });
    throw e;
  }
  return {
    name, port, base, addr: `127.0.0.1:${port}`,
    async stop() {
      // catalina.sh run execs the JVM: this pid is Tomcat's, and TERM runs its shutdown hook
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
      const killer = setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(killer);
      if (!process.env.KEEP) fs.rmSync(base, { recursive: true, force: true });
    },
  };
}

/** Several instances started side by side (each takes seconds). */
export function startTomcats(names: string[]): Promise<Tomcat[]> {
  return Promise.all(names.map((n) => startTomcat(n)));
}
