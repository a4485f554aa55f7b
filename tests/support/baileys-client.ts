// A real, unmodified Baileys client pointed at the simulator, for tests that exercise the
// simulator itself. It restarts its socket on 515 (as every Baileys application must after
// pairing) and keeps its auth state in memory, so a test can reconnect with the same credentials.
import makeWASocket, {
  BufferJSON,
  DisconnectReason,
  initAuthCreds,
  WA_CERT_DETAILS,
  type AuthenticationCreds,
  type AuthenticationState,
  type SignalDataTypeMap,
  type WAMessage,
  type WASocket,
} from '@whiskeysockets/baileys';
import { Agent } from 'node:https';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import type { WaSim } from '../wa-sim/index.ts';

type Keys = { [T in keyof SignalDataTypeMap]?: Record<string, SignalDataTypeMap[T]> };

/** Auth state in memory, serialised through JSON on the way in and out as a file store would. */
export class MemoryAuth {
  creds: AuthenticationCreds = initAuthCreds();
  private data: Keys = {};

  get state(): AuthenticationState {
    return {
      creds: this.creds,
      keys: {
        get: async <T extends keyof SignalDataTypeMap>(type: T, ids: string[]) => {
          const bucket = (this.data[type] ?? {}) as Record<string, SignalDataTypeMap[T]>;
          return Object.fromEntries(ids.filter((id) => bucket[id] !== undefined).map((id) => [id, bucket[id]!])) as Record<string, SignalDataTypeMap[T]>;
        },
        set: async (changes: { [T in keyof SignalDataTypeMap]?: Record<string, SignalDataTypeMap[T] | null> }) => {
          for (const [type, entries] of Object.entries(changes)) {
            const bucket = ((this.data as Record<string, Record<string, unknown>>)[type] ??= {});
            for (const [id, value] of Object.entries(entries ?? {})) {
              if (value === null) delete bucket[id];
              else bucket[id] = JSON.parse(JSON.stringify(value, BufferJSON.replacer), BufferJSON.reviver);
            }
          }
        },
      },
    };
  }
}

export interface ClientOptions {
  auth?: MemoryAuth;
  /** Ask for a pairing code for this phone number instead of showing QR codes. */
  pairingPhone?: string;
  qrTimeoutMs?: number;
  keepAliveIntervalMs?: number;
}

/** Trusts the simulator's certificate root in this process (PROTOCOL.md §2.3). */
export function trustSimulator(sim: WaSim): void {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(sim.rootPublicKey, 'base64');
}

export class TestClient extends EventEmitter {
  readonly auth: MemoryAuth;
  sock!: WASocket;
  readonly qrs: string[] = [];
  readonly upserts: { type: string; messages: WAMessage[] }[] = [];
  readonly closes: { statusCode?: number; message: string }[] = [];
  pairingCode?: string;
  private stopped = false;

  private readonly sim: WaSim;
  private readonly options: ClientOptions;

  constructor(sim: WaSim, options: ClientOptions = {}) {
    super();
    this.sim = sim;
    this.options = options;
    this.setMaxListeners(0);
    this.auth = options.auth ?? new MemoryAuth();
    trustSimulator(sim);
    this.connect();
  }

  private connect(): void {
    const sock = makeWASocket({
      auth: this.auth.state,
      waWebSocketUrl: this.sim.wsUrl,
      logger: pino({ level: process.env.BAILEYS_LOG ?? 'silent' }),
      fetchAgent: new Agent({ ca: this.sim.caCertPem }),
      // The simulator has no history sync; without this the first login waits 20 s for one.
      shouldSyncHistoryMessage: () => false,
      qrTimeout: this.options.qrTimeoutMs,
      keepAliveIntervalMs: this.options.keepAliveIntervalMs,
      markOnlineOnConnect: false,
    });
    this.sock = sock;
    sock.ev.process(async (events) => {
      if (events['creds.update']) Object.assign(this.auth.creds, events['creds.update']);
      const update = events['connection.update'];
      if (update?.qr) {
        this.qrs.push(update.qr);
        this.emit('qr', update.qr);
        if (this.options.pairingPhone && !this.pairingCode) {
          this.pairingCode = await sock.requestPairingCode(this.options.pairingPhone);
          this.emit('pairing-code', this.pairingCode);
        }
      }
      if (update?.connection === 'open') this.emit('open');
      if (update?.connection === 'close') {
        const error = update.lastDisconnect?.error as { output?: { statusCode?: number }; message: string } | undefined;
        const close = { statusCode: error?.output?.statusCode, message: error?.message ?? '' };
        this.closes.push(close);
        this.emit('close', close);
        if (!this.stopped && close.statusCode === DisconnectReason.restartRequired) this.connect();
      }
      const upsert = events['messages.upsert'];
      if (upsert) {
        this.upserts.push(upsert);
        this.emit('upsert', upsert);
      }
    });
  }

  /** Opens a new socket with the same credentials (a process restart, as far as WhatsApp can tell). */
  reconnect(): void {
    this.stopped = false;
    this.connect();
  }

  next<T = unknown>(event: string, predicate: (value: T) => boolean = () => true, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const listener = (value: T) => {
        if (!predicate(value)) return;
        clearTimeout(timer);
        this.off(event, listener);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.off(event, listener);
        reject(new Error(`client: no ${event} within ${timeoutMs} ms (closes: ${JSON.stringify(this.closes)})`));
      }, timeoutMs);
      this.on(event, listener);
    });
  }

  get me() {
    return this.sock.authState.creds.me;
  }

  /** Closes the socket without logging out. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.sock.ws.isOpen) {
      const closed = this.next('close');
      this.sock.end(undefined);
      await closed;
    } else {
      this.sock.end(undefined);
    }
  }
}

/** A client linked to a fresh simulated account by scanning its first QR code, once open. */
export async function pairedClient(sim: WaSim, account: { phone?: string; name?: string } = {}, options: ClientOptions = {}): Promise<TestClient> {
  const client = new TestClient(sim, options);
  const qr = await client.next<string>('qr');
  const opened = client.next('open');
  await sim.scanQr(qr, account);
  await opened;
  return client;
}
