// Benchmark: the HostLink's outbox at volume. 10,000 messages to 100 recipients are queued while
// the session host is away, then delivered when it comes back; the time per delivery over the
// first and the last thousand shows whether a delivery costs more with a long queue behind it.
//
// The real Worker runs under `wrangler dev` (HTTP → Worker → HostLink Durable Object, its SQLite
// outbox, D1), and the session host is a stand-in: the host's own link server (LinkServer, the
// real handshake and framing) with handlers that answer at once, so what is measured is the edge's
// cost per delivery, not WhatsApp's. Times are taken where the sends arrive, at the host.
//
// OUTBOX_BENCH_MESSAGES (default 10,000) and OUTBOX_BENCH_RECIPIENTS (default 100) change the
// volume, OUTBOX_BENCH_STATE_DIR where the edge's local state goes (default /dev/shm). Besides wall
// time, the CPU time of `wrangler dev` and its workerd per delivery is given: on a machine shared
// with other work it is the steadier figure. Progress goes to stderr; the result is returned.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LinkServer, type Handlers } from '../../session-host/link/server.ts';
import { LINK_PATHS, LinkError, type DeviceState } from '../../session-host/link/protocol.ts';
import { freePort, killGroup, prepareEdge, spawnWranglerDev, waitForHealth, writeEnvFile } from '../../bin/stack.ts';

/** Fonnte's /send takes this many targets per request. */
const TARGETS_PER_REQUEST = 50;
const WINDOW = 1_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;
const count = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number, got ${process.env[name]}`);
  return value;
};

/**
 * CPU time (ms) used so far by a process group: `wrangler dev` and its workerd, which runs the
 * Worker, the Durable Object and local D1. Less swayed by other load on the machine than wall time.
 */
function groupCpuMs(pgid: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After the name (in parentheses): state, ppid, pgrp, … utime and stime are the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** `wrangler dev` on local state, with no session host of its own (startStack always starts one). */
async function startEdge(vars: Record<string, string>, stateDir: string): Promise<{ url: string; child: ChildProcess; stop: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(stateDir, 'bench-outbox-'));
  const persist = join(dataDir, 'wrangler');
  await prepareEdge(persist);
  const envFile = join(dataDir, 'edge.env');
  writeEnvFile(envFile, vars);
  const port = await freePort();
  const { child, output } = await spawnWranglerDev({ port, persist, envFile, logLevel: 'error' });
  const url = `http://127.0.0.1:${port}`;
  const stop = () => killGroup(child); // wrangler and its workerd
  try {
    await waitForHealth(url, child, output);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, child, stop };
}

interface Arrival {
  at: number;
  to: string;
  text: string;
}

/** The stand-in session host: the real link server, every device connected, every send answered at once. */
function standInHost(secret: string, deviceIds: () => string[], onSend: (count: number) => void) {
  const sends: Arrival[] = [];
  const notices: number[] = [];
  const connected = (id: string): DeviceState => ({ id, status: 'CONNECTED', qr: null, phoneNumber: null, pushName: null, totalMessagesSent: 0, reason: null });
  const notHere = async (): Promise<never> => {
    throw new LinkError('bad_request', 'not part of this benchmark');
  };
  const handlers: Handlers = {
    'host.status': async () => ({ publicUrl: null, devices: deviceIds().map(connected) }),
    'device.upsert': async (settings) => connected(settings.id),
    'device.delete': async () => ({ deleted: true }),
    'device.connect': async ({ id }) => connected(id),
    'device.disconnect': async ({ id }) => connected(id),
    'device.logout': async ({ id }) => connected(id),
    'device.pairingCode': notHere,
    'groups.list': notHere,
    'message.edit': notHere,
    'message.revoke': notHere,
    // Chat operations and WhatsApp groups.
    'chat.checkNumbers': notHere,
    'chat.read': notHere,
    'chat.presence': notHere,
    'chat.profilePicture': notHere,
    'group.create': notHere,
    'group.get': notHere,
    'group.update': notHere,
    'group.participants': notHere,
    'group.inviteLink': notHere,
    'group.revokeInvite': notHere,
    'group.join': notHere,
    'group.leave': notHere,
    'media.download': notHere,
    // Uploads (Fonnte's `file`).
    'media.put': notHere,
    // Webhook deliveries.
    'webhooks.deliveries': notHere,
    'webhooks.retry': notHere,
    'webhook.status': async () => {
      notices.push(performance.now());
      return { queued: true };
    },
    'message.send': async (p) => {
      sends.push({ at: performance.now(), to: p.to, text: p.text ?? '' });
      onSend(sends.length);
      return { id: `WA${p.outboxId}`, timestamp: Math.floor(Date.now() / 1000), to: p.to };
    },
  };
  const link = new LinkServer({ secret, handlers, logger: pino({ level: 'silent' }) });
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && new URL(req.url ?? '/', 'http://host').pathname === LINK_PATHS.challenge) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(link.challenge()));
    } else {
      res.writeHead(404).end();
    }
  });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://host').pathname === LINK_PATHS.socket) link.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  return {
    sends,
    notices,
    listen: (port: number) => new Promise<void>((r) => server.listen(port, '127.0.0.1', r)),
    close: async () => {
      link.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

export async function runOutboxBench(options: { messages?: number; recipients?: number; log?: (line: string) => void } = {}) {
  const messages = options.messages ?? count('OUTBOX_BENCH_MESSAGES', 10_000);
  const recipientCount = options.recipients ?? count('OUTBOX_BENCH_RECIPIENTS', 100);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Local D1 and the Durable Object's storage in memory when the machine has a tmpfs: a disk shared
  // with other work makes each commit's fsync the noise, not the outbox.
  const stateDir = process.env.OUTBOX_BENCH_STATE_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  if (messages < 2 * WINDOW) throw new Error(`the outbox bench needs at least ${2 * WINDOW} messages`);
  if (recipientCount % TARGETS_PER_REQUEST !== 0 || messages % recipientCount !== 0) {
    throw new Error(`recipients must be a multiple of ${TARGETS_PER_REQUEST}, and messages of recipients`);
  }
  const secret = randomBytes(32).toString('hex');
  const adminKey = `admin_${randomBytes(16).toString('hex')}`;
  const hostPort = await freePort();
  let device: { id: string; apiKey: string } | undefined;
  // The edge's CPU time when the first, the thousandth… send of each window arrives.
  const marks = new Set([1, WINDOW, messages - WINDOW + 1, messages]);
  const cpuAt = new Map<number, number>();
  let edgeGroup = 0;
  const host = standInHost(
    secret,
    () => (device ? [device.id] : []),
    (sent) => marks.has(sent) && cpuAt.set(sent, groupCpuMs(edgeGroup)),
  );
  // The host is not listening yet: every send finds it away and is queued.
  const edge = await startEdge({ ADMIN_KEY: adminKey, HOST_URL: `http://127.0.0.1:${hostPort}`, HOST_SECRET: secret }, stateDir);
  edgeGroup = edge.child.pid!;
  try {
    const admin = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
    device = (await (await fetch(`${edge.url}/api/devices`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'outbox bench' }) })).json()) as { id: string; apiKey: string };
    const recipients = Array.from({ length: recipientCount }, (_, i) => `62812${String(i).padStart(7, '0')}`);

    // Round r sends "r" to every recipient, 50 targets a request: each recipient's queue is 0, 1, 2…
    log(`outbox: queueing ${messages} messages to ${recipientCount} recipients with the host away…`);
    const queueStart = performance.now();
    const rounds = messages / recipientCount;
    for (let r = 0; r < rounds; r++) {
      for (let from = 0; from < recipientCount; from += TARGETS_PER_REQUEST) {
        const res = await fetch(`${edge.url}/send`, {
          method: 'POST',
          headers: { authorization: device.apiKey, 'content-type': 'application/json' },
          body: JSON.stringify({ target: recipients.slice(from, from + TARGETS_PER_REQUEST).join(','), message: String(r) }),
        });
        const body = (await res.json()) as { detail?: string };
        if (body.detail !== 'success! message in queue') throw new Error(`send not queued: ${res.status} ${JSON.stringify(body)}`);
      }
    }
    const queueMs = performance.now() - queueStart;
    log(`outbox: queued in ${Math.round(queueMs)} ms; the host comes back`);

    await host.listen(hostPort);
    const deliverStart = performance.now();
    // The status page dials the host; the link delivers what waits.
    await fetch(`${edge.url}/api/status`, { headers: admin }).then((r) => r.arrayBuffer());
    let lastLogged = 0;
    for (let idle = performance.now(); host.sends.length < messages; await sleep(200)) {
      if (host.sends.length !== lastLogged) {
        idle = performance.now();
        if (host.sends.length - lastLogged >= 1_000) log(`outbox: ${(lastLogged = host.sends.length)} delivered`);
      }
      // No progress for a minute: the heartbeat alarm would have delivered by then.
      if (performance.now() - idle > 60_000) throw new Error(`deliveries stopped at ${host.sends.length} of ${messages}`);
    }
    const { sends } = host;
    const perDelivery = (from: number) => (sends[from + WINDOW - 1]!.at - sends[from]!.at) / (WINDOW - 1);
    const first = perDelivery(0);
    const last = perDelivery(messages - WINDOW);
    const cpuFirst = (cpuAt.get(WINDOW)! - cpuAt.get(1)!) / (WINDOW - 1);
    const cpuLast = (cpuAt.get(messages)! - cpuAt.get(messages - WINDOW + 1)!) / (WINDOW - 1);
    const byThousand = Array.from({ length: Math.floor(messages / WINDOW) }, (_, i) => round(perDelivery(i * WINDOW)));

    // In order per recipient: each one's messages arrive as 0, 1, 2…
    const seen = new Map<string, number>();
    let outOfOrder = 0;
    for (const send of sends) {
      const n = Number(send.text);
      if (n !== (seen.get(send.to) ?? -1) + 1) outOfOrder++;
      seen.set(send.to, n);
    }
    // The 'queued' webhook notices go to the host before the queue does; any that overlap the
    // measured windows are reported, as they share the link with the deliveries.
    const during = (from: number) => host.notices.filter((t) => t >= sends[from]!.at && t <= sends[from + WINDOW - 1]!.at).length;
    const result = {
      messages,
      recipients: recipientCount,
      queueMsPerMessage: round(queueMs / messages),
      firstDeliveryAfterMs: Math.round(sends[0]!.at - deliverStart),
      deliveryMsFirstThousand: round(first),
      deliveryMsLastThousand: round(last),
      ratioLastToFirst: round(last / first),
      edgeCpuMsFirstThousand: round(cpuFirst),
      edgeCpuMsLastThousand: round(cpuLast),
      cpuRatioLastToFirst: round(cpuLast / cpuFirst),
      // The target: a delivery costs as much at the end as at the start, within 1.5× either way (a
      // cost that grows with the queue shows as a first thousand slower than the last).
      steady: Math.max(last / first, first / last) <= 1.5,
      deliveryMsPerThousand: byThousand,
      deliveriesPerSecond: round((messages - 1) / ((sends.at(-1)!.at - sends[0]!.at) / 1000), 1),
      outOfOrder,
      duplicates: sends.length - messages,
      noticesHandedOver: host.notices.length,
      noticesDuringFirstThousand: during(0),
      noticesDuringLastThousand: during(messages - WINDOW),
    };
    log(`outbox: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await edge.stop();
    await host.close();
  }
}

// Run alone: `node tests/bench/outbox.ts`.
if (import.meta.main) {
  console.log(JSON.stringify(await runOutboxBench(), null, 2));
  process.exit(0);
}
