// The dashboard as an admin meets it: real Chromium driving the built Lit app, served by the real
// Worker under `wrangler dev`, with the real session host linked to the WhatsApp simulator. The
// tests run in order and share one stack and one browser: each step builds on the one before,
// as a person working through the page would. Each saves a screenshot under test-artifacts/.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium, openPage } from '../support/browser.ts';
import qrcode from 'qrcode-generator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startStack, type Stack } from '../../bin/stack.ts';
import { png, wav } from '../support/fixtures.ts';
import { WaSim } from '../wa-sim/index.ts';

const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/dashboard');
const CUSTOMER = '6281234567001';

let sim: WaSim;
let stack: Stack;
let browser: Browser;
let page: Page;
let files: Server;
let filesUrl: string;
const image = png(80, 60, 9);
const tone = wav(2);

/** Device A, linked by scanning its QR code from the page. */
const shop = { name: 'Toko Utama', id: '', apiKey: '', phone: '' };

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  sim = await WaSim.start({ log: () => {} });
  const dataDir = mkdtempSync(join(tmpdir(), 'dashboard-stack-'));
  const caFile = join(dataDir, 'wa-sim-ca.pem');
  writeFileSync(caFile, sim.caCertPem);
  const served: Record<string, [string, Buffer]> = { '/photo.png': ['image/png', image], '/tone.wav': ['audio/wav', tone] };
  files = createServer((req, res) => {
    const file = served[req.url ?? ''];
    if (file) res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  [stack, browser] = await Promise.all([
    startStack({
      dataDir,
      edgePort: await freePort(),
      hostPort: await freePort(),
      hostEnv: { WA_WS_URL: sim.wsUrl, WA_ROOT_KEY: sim.rootPublicKey, NODE_EXTRA_CA_CERTS: caFile, MEDIA_ALLOW_PRIVATE_NETWORKS: 'true', LOG_LEVEL: 'warn' },
      edgeVars: { DEMO_SIM_URL: sim.controlUrl },
    }),
    launchChromium(),
  ]);
  page = await openPage(browser);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  files?.close();
  await sim?.stop();
});

// expect.poll gives up after 1 s by default; the page polls the status every 2 s.
const eventually = <T>(value: () => Promise<T> | T) => expect.poll(value, { timeout: 10_000 });

const shot = (name: string, target: Page | Locator = page) => target.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

async function api(method: string, path: string, key = `Bearer ${stack.adminKey}`, body?: unknown) {
  const res = await fetch(`${stack.edgeUrl}${path}`, {
    method,
    headers: { authorization: key, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any };
}
const deviceStatus = async (id: string) => ((await api('GET', '/api/status')).json.devices as any[]).find((d) => d.id === id);

// Each section is an element whose content lives in its shadow root (which locators pierce).
const section = (tag: string) => page.locator(`${tag} section.card`);
const deviceRow = (name: string) => section('wa-devices').locator('tbody tr', { hasText: name });

/** The modules a <wa-qr-code> drew, as "x,y" of each dark one, and the text it encodes. */
async function drawnQr(): Promise<{ value: string; dark: Set<string> }> {
  const qr = page.locator('wa-qr-code');
  const value = await qr.evaluate((el) => (el as unknown as { value: string }).value);
  const d = (await qr.locator('svg path').getAttribute('d')) ?? '';
  return { value, dark: new Set([...d.matchAll(/M(\d+) (\d+)/g)].map(([, x, y]) => `${x},${y}`)) };
}

/** An independent encoding of `text`, placed as <wa-qr-code> places it (4-module quiet zone). */
function expectedQr(text: string): Set<string> {
  const qr = qrcode(0, 'L');
  qr.addData(text);
  qr.make();
  const dark = new Set<string>();
  for (let row = 0; row < qr.getModuleCount(); row++) for (let col = 0; col < qr.getModuleCount(); col++) if (qr.isDark(row, col)) dark.add(`${col + 4},${row + 4}`);
  return dark;
}

/** Plants a marker a reload would wipe, so a test can prove the page never reloaded. */
const markPage = () => page.evaluate("window.marker = 'still here'");
const pageMarker = () => page.evaluate<string | undefined>('window.marker');
const pageWidth = () => page.evaluate<number>('document.documentElement.scrollWidth');
const scrollWidth = () => page.evaluate<number>('document.scrollingElement.scrollWidth');

/** The dashboard's views: the navigation's link, the hash it goes to, and a heading only it shows. */
const VIEWS = [
  { link: 'Overview', hash: '#overview', heading: 'Devices Management' },
  { link: 'Messages', hash: '#messages', heading: 'Messages' },
  { link: 'Send', hash: '#send', heading: 'Send Test Message' },
  { link: 'Contacts', hash: '#contacts', heading: 'Contact Management' },
  { link: 'WhatsApp Groups', hash: '#groups', heading: 'WhatsApp Group List' },
  { link: 'API Docs', hash: '#docs', heading: 'API Integration Documentation' },
] as const;
type ViewName = (typeof VIEWS)[number]['link'];
const headingOf = (name: string) => page.getByRole('heading', { name, exact: true });

/** Goes to a view through the navigation, as a person would, and waits for it. */
async function goTo(name: ViewName) {
  const view = VIEWS.find((v) => v.link === name)!;
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name, exact: true }).click();
  await headingOf(view.heading).waitFor();
  expect(new URL(page.url()).hash).toBe(view.hash);
}

describe('the dashboard', () => {
  it('refuses a wrong admin key with a clear message, and signs in with the right one', async () => {
    await page.goto(stack.edgeUrl);
    const key = page.getByLabel('Admin key');
    await key.fill('not-the-admin-key');
    await key.press('Enter');
    await eventually(() => page.getByRole('alert').textContent()).toContain('Wrong admin key');
    await expect(page.getByRole('heading', { name: 'Devices Management' }).count()).resolves.toBe(0);
    await shot('01-wrong-key');

    await key.fill(stack.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Devices Management' }).waitFor();
    // The overview first: the gateway, its devices and hosts, nothing of the other views.
    expect(new URL(page.url()).hash).toBe('');
    for (const heading of ['API Gateway Status', 'Hosts']) await headingOf(heading).waitFor();
    await eventually(() => section('wa-devices').textContent()).toContain('No devices yet');
    await eventually(() => page.getByTestId('connection-status').textContent()).toContain('Online');
    expect(await section('wa-gateway-status').textContent()).toContain(stack.edgeUrl);
    await shot('02-signed-in');

    // Every section of the seed, each in its view, with its empty states.
    for (const heading of ['Messages', 'Send Test Message', 'Contact Management', 'Group Management', 'WhatsApp Group List', 'API Integration Documentation']) {
      expect(await headingOf(heading).count(), heading).toBe(0);
    }
    await goTo('Send');
    await goTo('Contacts');
    await headingOf('Group Management').waitFor();
    // Each section loads on its own: wait for each, not only for the first.
    await eventually(() => section('wa-contacts').textContent()).toContain('No contacts found. Click "Add Contact" to create one.');
    await eventually(() => section('wa-contact-groups').textContent()).toContain('No groups found. Click "Add Group" to create one.');
    await goTo('WhatsApp Groups');
    await eventually(() => section('wa-whatsapp-groups').textContent()).toContain('Please select a connected device above.');
    await goTo('API Docs');
    await goTo('Messages');
    await eventually(() => section('wa-messages').textContent()).toContain('No messages yet');
    // One view at a time: the overview's sections are gone from this one.
    expect(await section('wa-devices').count()).toBe(0);
    expect(await headingOf('API Integration Documentation').count()).toBe(0);

    // The key is kept for the tab, and the address keeps the view: a reload stays signed in, there.
    await goTo('Contacts');
    await page.reload();
    await headingOf('Contact Management').waitFor();
    expect(await headingOf('Devices Management').count()).toBe(0);
    // Back and forward walk the views visited.
    await page.goBack();
    await headingOf('Messages').waitFor();
    await page.goForward();
    await headingOf('Contact Management').waitFor();
    await goTo('Overview');
    await shot('02b-views');
  });

  it('shows the overview at 1280 x 900 without the sections of the other views', async () => {
    expect(page.viewportSize()).toEqual({ width: 1280, height: 900 });
    await eventually(() => section('wa-hosts').textContent()).toContain('Default host');
    // Every dashboard element on the page, through the shadow roots (a string: this runs in the page).
    const shown = await page.evaluate<string[]>(`(() => {
      const tags = [];
      const walk = (root) => {
        for (const el of root.querySelectorAll('*')) {
          if (el.tagName.startsWith('WA-')) tags.push(el.tagName.toLowerCase());
          if (el.shadowRoot) walk(el.shadowRoot);
        }
      };
      walk(document);
      return tags;
    })()`);
    expect(shown).toEqual(expect.arrayContaining(['wa-stats', 'wa-gateway-status', 'wa-devices', 'wa-hosts']));
    for (const other of ['wa-messages', 'wa-send-test', 'wa-contacts', 'wa-contact-groups', 'wa-whatsapp-groups', 'wa-api-docs', 'wa-api-route']) expect(shown).not.toContain(other);
    expect(await scrollWidth()).toBeLessThanOrEqual(1280);
  });

  it('adds a device and shows its API key once, which then works', async () => {
    await section('wa-devices').getByRole('button', { name: 'Add Device' }).click();
    const form = page.getByRole('dialog', { name: 'Add device' });
    await form.getByLabel('Device name').fill(shop.name);
    await form.getByLabel(/Webhook URL/).fill('https://example.com/hooks/wa');
    await form.getByRole('button', { name: 'Add device' }).click();

    const shown = page.getByRole('dialog', { name: `${shop.name} is ready` });
    shop.apiKey = (await shown.getByTestId('api-key').textContent()) ?? '';
    expect(shop.apiKey).toMatch(/^wa_[0-9a-f]{32}$/);
    await shot('03-api-key-once');
    await shown.getByRole('button', { name: 'Done' }).click();

    const row = deviceRow(shop.name);
    await eventually(() => row.textContent()).toContain('https://example.com/hooks/wa');
    expect(await row.textContent()).not.toContain(shop.apiKey); // masked from now on
    expect(await row.textContent()).toContain('Disconnected');
    shop.id = (await row.getAttribute('data-device-id'))!;
    // The key shown is the device's real key: it opens the API for that device alone.
    const own = await api('GET', '/api/status', `Bearer ${shop.apiKey}`);
    expect(own.json.devices.map((d: { id: string }) => d.id)).toEqual([shop.id]);
    await eventually(() => page.getByTestId('stat-devices').textContent()).toContain('1');
  });

  it('gives message statuses their own webhook URL (Fonnte’s webhook status), device status staying with the webhook URL', async () => {
    await deviceRow(shop.name)
      .getByRole('button', { name: `Edit ${shop.name}` })
      .click();
    let form = page.getByRole('dialog', { name: `Edit ${shop.name}` });
    await eventually(() => form.textContent()).toContain('whsec_'); // the device's settings are in
    await form.getByLabel(/Message status webhook URL/).fill('https://example.com/hooks/status');
    await form.getByRole('button', { name: 'Save' }).click();
    await eventually(async () => (await api('GET', `/api/devices/${shop.id}`)).json.statusWebhookUrl).toBe('https://example.com/hooks/status');
    expect((await api('GET', `/api/devices/${shop.id}`)).json).toMatchObject({ webhookUrl: 'https://example.com/hooks/wa', connectionWebhookUrl: null });

    await deviceRow(shop.name)
      .getByRole('button', { name: `Edit ${shop.name}` })
      .click();
    form = page.getByRole('dialog', { name: `Edit ${shop.name}` });
    await eventually(() => form.getByLabel(/Message status webhook URL/).inputValue()).toBe('https://example.com/hooks/status');
    expect(await form.getByLabel(/Device status webhook URL/).inputValue()).toBe('');
    await form.getByRole('button', { name: 'Cancel' }).click();
  });

  it('connects: draws the QR code, and turns Connected without a reload once the phone scans it', async () => {
    await markPage();
    await deviceRow(shop.name)
      .getByRole('button', { name: `Connect ${shop.name}` })
      .click();
    const dialog = page.getByRole('dialog', { name: `Link ${shop.name} to WhatsApp` });
    await dialog.locator('wa-qr-code svg').waitFor();

    const { value, dark } = await drawnQr();
    expect(value).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#/);
    expect(value).toBe((await deviceStatus(shop.id)).qr);
    expect(dark).toEqual(expectedQr(value)); // the image really encodes it, module for module
    await shot('04-qr-code');

    // The phone scans what the page shows.
    const linked = await sim.scanQr(value, { name: 'Toko Utama WA' });
    shop.phone = linked.phone;
    await eventually(() => dialog.textContent()).toContain(`Connected as Toko Utama WA · +${shop.phone}`);
    expect(await dialog.locator('wa-qr-code').count()).toBe(0);
    await shot('05-connected');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await eventually(() => deviceRow(shop.name).textContent()).toContain('Connected');
    expect(await deviceRow(shop.name).textContent()).toContain(`+${shop.phone}`);
    expect(await pageMarker()).toBe('still here');
  });

  it('has the simulator scan a QR code from the demo button', async () => {
    const created = await api('POST', '/api/devices', undefined, { name: 'Toko Cabang' });
    expect(created.status).toBe(201);
    await expect(api('GET', '/api/demo')).resolves.toMatchObject({ status: 200, json: { enabled: true } });

    await deviceRow('Toko Cabang').getByRole('button', { name: 'Connect Toko Cabang' }).click();
    const dialog = page.getByRole('dialog', { name: 'Link Toko Cabang to WhatsApp' });
    await dialog.locator('wa-qr-code svg').waitFor();
    await dialog.getByRole('button', { name: 'Scan with the simulator' }).click();
    await eventually(() => dialog.textContent()).toContain('Connected');
    await shot('06-demo-scan');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await eventually(() => page.getByTestId('stat-connected').textContent()).toContain('2');
    // Scanning needs a QR code on show: a connected device has none.
    expect(await api('POST', `/api/demo/devices/${created.json.id}/scan`)).toMatchObject({ status: 409 });
  });

  it('links a device by pairing code instead of a QR code', async () => {
    await api('POST', '/api/devices', undefined, { name: 'Gudang' });
    await deviceRow('Gudang').getByRole('button', { name: 'Connect Gudang' }).click();
    const dialog = page.getByRole('dialog', { name: 'Link Gudang to WhatsApp' });
    await dialog.getByText('Link with a phone number instead').click();
    await dialog.getByLabel('Phone number with country code').fill('+62 811-2233-4455');
    await dialog.getByRole('button', { name: 'Get pairing code' }).click();
    const code = (await dialog.getByTestId('pairing-code').textContent({ timeout: 30_000 }))!.trim();
    expect(code).toMatch(/^[1-9A-Z]{4}-[1-9A-Z]{4}$/);
    await shot('07-pairing-code');

    await sim.enterPairingCode(code.replace('-', ''), '6281122334455', 'Gudang WA');
    await eventually(() => dialog.textContent()).toContain('Connected as Gudang WA · +6281122334455');
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  it('sends a test message, text and then media, which the simulator receives exactly once', async () => {
    await goTo('Send');
    const form = section('wa-send-test');
    const text = `Pesanan #${Date.now()} sudah dikirim`;
    await form.getByLabel('Device').selectOption({ label: shop.name });
    await form.getByLabel('Recipient number').fill('0812-3456-7001');
    await form.getByLabel('Message', { exact: true }).fill(text);
    await form.getByRole('button', { name: 'Send message' }).click();
    await eventually(() => form.getByRole('status').textContent()).toContain(`Sent to ${CUSTOMER}`);

    const out = await sim.waitForOutgoing((m) => m.text === text);
    expect(out.to).toBe(`${CUSTOMER}@s.whatsapp.net`);
    expect(sim.outbox.filter((m) => m.text === text)).toHaveLength(1);
    await shot('08-sent', form);

    await form.getByLabel(/Media URL/).fill(`${filesUrl}/photo.png`);
    await form.getByLabel('Media type').selectOption('image');
    await form.getByLabel('Message', { exact: true }).fill('Foto produk');
    await form.getByRole('button', { name: 'Send message' }).click();
    await eventually(() => form.getByRole('status').textContent()).toContain('image message dispatched successfully');
    const media = await sim.waitForOutgoing((m) => m.media?.caption === 'Foto produk');
    expect(media.media?.bytes.equals(image)).toBe(true);

    // A refusal is shown in the gateway's words.
    await form.getByLabel(/Media URL/).fill('');
    await form.getByLabel('Recipient number').fill('12');
    await form.getByRole('button', { name: 'Send message' }).click();
    await eventually(() => form.getByRole('alert').textContent()).toContain('Not sent: to:');

    // The overview counts what went out: the text and the image.
    await goTo('Overview');
    await eventually(() => page.getByTestId('stat-sent').textContent()).toContain('2');
  });

  it('sends a voice note, a location and a poll from Send Test Message, as the recipient decrypts them', async () => {
    await goTo('Send');
    const form = section('wa-send-test');
    await form.getByLabel('Device').selectOption({ label: shop.name });
    await form.getByLabel('Recipient number').fill('0812-3456-7001');
    await form.getByLabel('Message', { exact: true }).fill('');
    await form.getByLabel(/Media URL/).fill(`${filesUrl}/tone.wav`);
    await form.getByLabel('Media type').selectOption('voice');
    await form.getByRole('button', { name: 'Send message' }).click();
    await eventually(() => form.getByRole('status').textContent()).toContain('voice message dispatched successfully');
    const voice = await sim.waitForOutgoing((m) => m.message?.audioMessage?.ptt === true);
    expect(voice.message?.audioMessage).toMatchObject({ mimetype: 'audio/ogg; codecs=opus', seconds: 2 });
    await form.getByLabel(/Media URL/).fill('');

    await form.getByLabel('Kind').selectOption('location');
    await form.getByLabel('Latitude').fill('-6.2');
    await form.getByLabel('Longitude').fill('106.816666');
    await form.getByLabel('Place name').fill('Gudang Utama');
    await form.getByRole('button', { name: 'Send message' }).click();
    await eventually(() => form.getByRole('status').textContent()).toContain('Location dispatched successfully');
    const pin = await sim.waitForOutgoing((m) => m.message?.locationMessage?.name === 'Gudang Utama');
    expect(pin.message?.locationMessage).toMatchObject({ degreesLatitude: -6.2, degreesLongitude: 106.816666 });

    await form.getByLabel('Kind').selectOption('poll');
    await form.getByLabel('Question').fill('Kirim jam berapa?');
    await form.getByLabel(/Options/).fill('09:00\n13:00\n\n16:00');
    await form.getByLabel('Allow more than one answer').check();
    await form.getByRole('button', { name: 'Send message' }).click();
    await eventually(() => form.getByRole('status').textContent()).toContain('Poll dispatched successfully');
    const poll = await sim.waitForOutgoing((m) => (m.message?.pollCreationMessage ?? m.message?.pollCreationMessageV3)?.name === 'Kirim jam berapa?');
    const created = poll.message?.pollCreationMessage ?? poll.message?.pollCreationMessageV3;
    expect(created?.options?.map((o) => o.optionName)).toEqual(['09:00', '13:00', '16:00']);
    expect(created?.selectableOptionsCount).toBe(0);
    await shot('08b-poll', form);
    await form.getByLabel('Kind').selectOption('message');
  });

  it('adds and renames a contact group', async () => {
    await goTo('Contacts');
    const groups = section('wa-contact-groups');
    await groups.getByRole('button', { name: 'Add Group' }).click();
    let dialog = page.getByRole('dialog', { name: 'Add group' });
    await dialog.getByLabel('Group name').fill('Pelanggan');
    await dialog.getByRole('button', { name: 'Add group' }).click();
    await eventually(() => groups.locator('tbody').textContent()).toContain('Pelanggan');

    await groups.getByRole('button', { name: 'Rename Pelanggan' }).click();
    dialog = page.getByRole('dialog', { name: 'Rename Pelanggan' });
    await dialog.getByLabel('Group name').fill('Pelanggan VIP');
    await dialog.getByRole('button', { name: 'Rename' }).click();
    await eventually(() => groups.locator('tbody').textContent()).toContain('Pelanggan VIP');
    expect((await api('GET', '/api/groups')).json.groups.map((g: { name: string }) => g.name)).toEqual(['Pelanggan VIP']);
    await shot('09-groups', groups);
  });

  it('adds, searches, edits and deletes a contact', async () => {
    const contacts = section('wa-contacts');
    await contacts.getByRole('button', { name: 'Add Contact' }).click();
    let dialog = page.getByRole('dialog', { name: 'Add contact' });
    await dialog.getByLabel('Name').fill('Budi');
    await dialog.getByLabel(/WhatsApp number/).fill('0812-3456-7001');
    await dialog.getByLabel('Group').selectOption({ label: 'Pelanggan VIP' });
    await dialog.getByRole('button', { name: 'Add contact' }).click();
    const row = contacts.locator('tbody tr', { hasText: 'Budi' });
    await eventually(() => row.textContent()).toContain(CUSTOMER); // normalised by the gateway
    expect(await row.textContent()).toContain('Pelanggan VIP');

    // A bad number is refused in the gateway's words, inside the form.
    await contacts.getByRole('button', { name: 'Add Contact' }).click();
    dialog = page.getByRole('dialog', { name: 'Add contact' });
    await dialog.getByLabel('Name').fill('Nobody');
    await dialog.getByLabel(/WhatsApp number/).fill('12');
    await dialog.getByRole('button', { name: 'Add contact' }).click();
    await eventually(() => dialog.getByRole('alert').textContent()).toContain('number');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await contacts.getByRole('button', { name: 'Edit Budi' }).click();
    dialog = page.getByRole('dialog', { name: 'Edit Budi' });
    expect(await dialog.getByLabel('Name').inputValue()).toBe('Budi');
    await dialog.getByLabel('Name').fill('Budi Santoso');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await eventually(() => contacts.locator('tbody').textContent()).toContain('Budi Santoso');

    const search = contacts.getByLabel('Search contacts');
    await search.fill('santoso');
    await eventually(() => contacts.locator('tbody tr').count()).toBe(1);
    await search.fill('zzz');
    await eventually(() => contacts.locator('tbody').textContent()).toContain('No contacts match "zzz".');
    await search.fill('');
    await eventually(() => contacts.locator('tbody').textContent()).toContain('Budi Santoso');
    await shot('10-contacts', contacts);

    await contacts.getByRole('button', { name: 'Delete Budi Santoso' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete Budi Santoso?' });
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await eventually(() => contacts.locator('tbody').textContent()).toContain('No contacts found. Click "Add Contact" to create one.');
    expect((await api('GET', '/api/contacts')).json.contacts).toEqual([]);
  });

  it('deletes a contact group after asking', async () => {
    const groups = section('wa-contact-groups');
    await groups.getByRole('button', { name: 'Delete Pelanggan VIP' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete the group Pelanggan VIP?' });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    expect(await groups.locator('tbody').textContent()).toContain('Pelanggan VIP');

    await groups.getByRole('button', { name: 'Delete Pelanggan VIP' }).click();
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await eventually(() => groups.locator('tbody').textContent()).toContain('No groups found. Click "Add Group" to create one.');
  });

  it("lists a connected device's WhatsApp groups with their ids", async () => {
    await goTo('WhatsApp Groups');
    const group = sim.addGroup({ subject: 'Family Group', participants: [shop.phone, CUSTOMER] });
    const list = section('wa-whatsapp-groups');
    await list.getByLabel('Connected device').selectOption({ label: `${shop.name} (+${shop.phone})` });
    const row = list.locator('tbody tr', { hasText: 'Family Group' });
    await eventually(() => row.textContent()).toContain(`${group.id}@g.us`);
    await expect(list.getByRole('button', { name: 'Copy the id of Family Group' }).count()).resolves.toBe(1);
    await shot('11-whatsapp-groups', list);
  });

  it("documents every route, with snippets that use this gateway's base URL and work as pasted", async () => {
    await goTo('API Docs');
    const docs = section('wa-api-docs');
    const openapi = (await (await fetch(`${stack.edgeUrl}/api/openapi.json`)).json()) as { paths: Record<string, object> };
    const operations = Object.values(openapi.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
    await eventually(() => docs.locator('wa-api-route').count()).toBe(operations);

    const route = docs.locator('wa-api-route[data-route="POST /api/send-message"] details');
    // Folded until clicked.
    expect(await route.getAttribute('open')).toBeNull();
    expect(await route.getByRole('tab', { name: 'Python' }).isVisible()).toBe(false);
    await route.locator('summary').click();
    expect(await route.getAttribute('open')).not.toBeNull();
    for (const text of ['Request Headers', 'Authorization', 'Request Parameters (JSON Body)', 'Message dispatched successfully', '200 OK (Success)']) {
      expect(await route.textContent()).toContain(text);
    }
    const code = () => route.locator('pre[role="tabpanel"]').textContent();
    expect(await code()).toContain(`curl -X POST '${stack.edgeUrl}/api/send-message'`);
    await route.getByRole('tab', { name: 'Python' }).click();
    expect(await code()).toContain(`requests.post(\n    "${stack.edgeUrl}/api/send-message"`);
    await route.getByRole('tab', { name: 'Python' }).press('ArrowRight'); // the tabs follow the arrow keys
    expect(await code()).toContain(`CURLOPT_URL => '${stack.edgeUrl}/api/send-message'`);
    await shot('12-docs', route);

    // The JavaScript snippet, given a real key, sends a real message.
    await route.getByRole('tab', { name: 'JavaScript' }).click();
    const js = (await code())!;
    expect(js).toContain(`fetch("${stack.edgeUrl}/api/send-message"`);
    const logged: unknown[] = [];
    const run = new Function('console', `return (async () => { ${js.replace('YOUR_API_KEY', shop.apiKey)} })()`);
    await run({ log: (value: unknown) => logged.push(value) });
    expect(logged[0]).toMatchObject({ success: true, message: 'Message dispatched successfully' });
    await sim.waitForOutgoing((m) => m.text === 'Hello from WA Gateway');
  });

  it('finds a route by searching as one types, and says when none matches', async () => {
    const docs = section('wa-api-docs');
    const search = docs.getByLabel('Search routes');
    const all = await docs.locator('wa-api-route').count();
    await search.fill('send-media');
    await eventually(() => docs.locator('wa-api-route').count()).toBe(1);
    const route = docs.locator('wa-api-route[data-route="POST /api/send-media"] details');
    expect(await docs.getByTestId('route-count').textContent()).toContain(`1 of ${all} routes match "send-media"`);
    // The one route left opens by itself, showing what it takes.
    expect(await route.getAttribute('open')).not.toBeNull();
    expect(await route.getByRole('tab', { name: 'Python' }).isVisible()).toBe(true);
    expect(await route.locator('table').first().textContent()).toContain('Authorization');
    await shot('12b-docs-search');

    // By field name and method too.
    await search.fill('viewOnce');
    await eventually(() => docs.locator('wa-api-route').count()).toBe(1);
    await search.fill('delete messages');
    await eventually(() => docs.locator('wa-api-route').count()).toBeGreaterThan(0);
    for (const r of await docs.locator('wa-api-route').all()) expect(await r.getAttribute('data-route')).toMatch(/^DELETE .*messages/);

    await search.fill('no-such-route');
    await eventually(() => docs.getByTestId('route-count').textContent()).toContain('No route matches "no-such-route".');
    expect(await docs.locator('wa-api-route').count()).toBe(0);
    await search.fill('');
    await eventually(() => docs.locator('wa-api-route').count()).toBe(all);
  });

  it('regenerates a key, disconnects and deletes a device', async () => {
    await goTo('Overview');
    await deviceRow(shop.name)
      .getByRole('button', { name: `Regenerate the API key of ${shop.name}` })
      .click();
    await page
      .getByRole('dialog', { name: `New API key for ${shop.name}?` })
      .getByRole('button', { name: 'Regenerate' })
      .click();
    const shown = page.getByRole('dialog', { name: `New API key for ${shop.name}` });
    const newKey = (await shown.getByTestId('api-key').textContent())!;
    expect(newKey).toMatch(/^wa_[0-9a-f]{32}$/);
    expect(newKey).not.toBe(shop.apiKey);
    await shown.getByRole('button', { name: 'Done' }).click();
    expect((await api('GET', '/api/status', `Bearer ${shop.apiKey}`)).status).toBe(401);
    expect((await api('GET', '/api/status', `Bearer ${newKey}`)).status).toBe(200);

    await deviceRow('Toko Cabang').getByRole('button', { name: 'Disconnect Toko Cabang' }).click();
    await eventually(() => deviceRow('Toko Cabang').textContent()).toContain('Disconnected');

    await deviceRow('Toko Cabang').getByRole('button', { name: 'Delete Toko Cabang' }).click();
    await page.getByRole('dialog', { name: 'Delete Toko Cabang?' }).getByRole('button', { name: 'Delete' }).click();
    await eventually(() => deviceRow('Toko Cabang').count()).toBe(0);
    await shot('13-devices');
  });

  it('holds its layout at 375 px wide', async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    await page.reload();
    await page.getByRole('heading', { name: 'Devices Management' }).waitFor();
    await eventually(() => deviceRow(shop.name).count()).toBe(1);
    expect(await pageWidth()).toBeLessThanOrEqual(375);
    expect(await scrollWidth()).toBeLessThanOrEqual(375);
    await shot('14-mobile');
    await section('wa-devices').getByRole('button', { name: 'Add Device' }).click();
    expect(await pageWidth()).toBeLessThanOrEqual(375);
    await shot('15-mobile-dialog');
    await page.keyboard.press('Escape');

    // The navigation reaches every view (its strip scrolls sideways, not the page), and none overflows.
    for (const view of VIEWS) {
      await goTo(view.link);
      if (view.link === 'API Docs') await section('wa-api-docs').locator('wa-api-route').first().waitFor();
      if (view.link === 'Messages') await eventually(() => section('wa-messages').locator('tbody tr[data-message-id]').count()).toBeGreaterThan(0);
      expect(await scrollWidth(), view.link).toBeLessThanOrEqual(375);
    }
    await shot('14b-mobile-messages');
    await goTo('Overview');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('polls the status only while the page is visible', async () => {
    let polls = 0;
    const count = (request: { url(): string }) => void (request.url().endsWith('/api/status') && polls++);
    page.on('request', count);
    try {
      // What the browser does when the tab goes to the background.
      await page.evaluate("Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }); document.dispatchEvent(new Event('visibilitychange'))");
      polls = 0;
      await page.waitForTimeout(4_500); // two polling periods
      expect(polls).toBe(0);
      await page.evaluate("delete document.hidden; document.dispatchEvent(new Event('visibilitychange'))");
      await eventually(() => polls).toBeGreaterThan(0);
    } finally {
      page.off('request', count);
    }
  });

  it('signs out, forgetting the key', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin key').waitFor();
    expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);
    await page.reload();
    await page.getByLabel('Admin key').waitFor();
    await shot('16-signed-out');
  });
});
