// Which API key each device of this host answers to, kept in the HostLink's own storage. A send
// is checked here, in the one call it makes into the HostLink, so the send path needs no D1 read
// and a key stays immediate: the admin API writes a new or regenerated key, and a deletion, here
// before it answers, so an old key is refused at once, whatever a Worker's cache still says.
//
// A device this host has never heard of (made before keys were kept here) is learnt from what a
// Worker has just read in D1. Learning never overwrites: a key the admin API has set since, or a
// deletion (kept as a row with no key), always wins over a read that may have been older.

export type KeyCheck = 'ok' | 'unknown' | 'refused';

export class DeviceKeys {
  private readonly sql: SqlStorage;
  /** The table, read once: a host's devices (hundreds at most) are checked on every send. */
  private readonly byDevice = new Map<string, string | null>();

  constructor(sql: SqlStorage) {
    this.sql = sql;
    // key_hash NULL: the device was deleted, and its old key must never be learnt back.
    sql.exec('CREATE TABLE IF NOT EXISTS device_keys (device_id TEXT PRIMARY KEY, key_hash TEXT)');
    for (const row of sql.exec<{ device_id: string; key_hash: string | null }>('SELECT device_id, key_hash FROM device_keys')) this.byDevice.set(row.device_id, row.key_hash);
  }

  /**
   * Whether `deviceId` may send with the key hashed `keyHash` (undefined: the admin key, which
   * may use any device of this host). 'unknown': this host has no record of the device.
   */
  check(deviceId: string, keyHash: string | undefined): KeyCheck {
    const stored = this.byDevice.get(deviceId);
    if (stored === undefined) return 'unknown';
    if (stored === null) return 'refused';
    return keyHash === undefined || stored === keyHash ? 'ok' : 'refused';
  }

  /** A key read from D1; ignored if this host already knows the device (or knows it was deleted). */
  learn(deviceId: string, keyHash: string): void {
    if (this.byDevice.has(deviceId)) return;
    this.sql.exec('INSERT INTO device_keys (device_id, key_hash) VALUES (?, ?)', deviceId, keyHash);
    this.byDevice.set(deviceId, keyHash);
  }

  /** The device's key from now on (a new device, or a regenerated key). */
  set(deviceId: string, keyHash: string): void {
    this.sql.exec('INSERT OR REPLACE INTO device_keys (device_id, key_hash) VALUES (?, ?)', deviceId, keyHash);
    this.byDevice.set(deviceId, keyHash);
  }

  /** A deleted device: refused from now on. */
  forget(deviceId: string): void {
    this.sql.exec('INSERT OR REPLACE INTO device_keys (device_id, key_hash) VALUES (?, NULL)', deviceId);
    this.byDevice.set(deviceId, null);
  }
}
