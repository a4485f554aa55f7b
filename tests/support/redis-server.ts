// A redis-server of the test's own, on a free port of 127.0.0.1, that the test may stop, start
// again and flush: the shared Redis on 6379 belongs to everyone's tests and is never touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../../bin/stack.ts';
import { tempDir } from './host.ts';

export interface RedisServerOptions {
  /** Keep data across a stop and start (an append-only file, fsynced on every write). */
  persistent: boolean;
}

export class RedisServer {
  readonly port: number;
  private readonly dir = tempDir('wa-redis');
  private readonly persistent: boolean;
  private child?: ChildProcess;

  private constructor(port: number, options: RedisServerOptions) {
    this.port = port;
    this.persistent = options.persistent;
  }

  static async start(options: RedisServerOptions): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options);
    await server.resume();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again) on the same port; resolves once it accepts connections. */
  async resume(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--protected-mode', 'no'];
    args.push(...(this.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (data: Buffer) => {
        output += data;
        if (output.includes('Ready to accept connections')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
    });
  }

  /** Shuts the server down (a SIGTERM: it flushes its append-only file first) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  /** Empties every database, as a FLUSHALL by an operator would. */
  async flushAll(): Promise<void> {
    const client = new Redis(this.port, '127.0.0.1');
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  }
}
