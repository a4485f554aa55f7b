import { LitElement, css, html } from 'lit';
import { deleteDevice, disconnectDevice, logoutDevice, regenerateKey, type KeyedDevice } from './data/devices.ts';
import { status, type Device, type DeviceState } from './data/status.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';
import './wa-confirm.ts';
import './wa-device-form.ts';
import './wa-device-link.ts';
import './wa-secret-dialog.ts';

export const STATE_LABELS: Record<DeviceState, string> = {
  CONNECTED: 'Connected',
  QR: 'Waiting for scan',
  CONNECTING: 'Connecting',
  DISCONNECTED: 'Disconnected',
  LOGGED_OUT: 'Logged out',
};

/** Devices Management: the table of devices, live, and everything done to one. */
export class WaDevices extends LitElement {
  static properties = { busy: { state: true }, error: { state: true } };
  static styles = [
    base,
    css`
      .who {
        font-weight: 600;
      }
      .token {
        display: flex;
        flex-wrap: wrap;
        gap: 0.4rem;
        align-items: center;
      }
    `,
  ];

  #status = new Watch(this, status);
  /** The id of the device an action is under way for: its buttons wait. */
  busy = '';
  error = '';

  render() {
    const { data, error, loading } = this.#status.value;
    return html`<section class="card" aria-labelledby="devices-heading">
      <div class="card-head">
        <h2 id="devices-heading">Devices Management</h2>
        <button class="primary" @click=${() => this.#form.open()}>Add Device</button>
      </div>
      ${error ? html`<p class="error" role="alert">Could not load the devices: ${error}</p>` : ''}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      <table class="cards">
        <thead>
          <tr>
            <th scope="col">Device / Profile</th>
            <th scope="col">Webhook URL</th>
            <th scope="col">Security Token</th>
            <th scope="col">Status</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          ${
            !data
              ? html`<tr><td colspan="5" class="empty">${loading ? 'Loading devices...' : 'Devices could not be loaded.'}</td></tr>`
              : data.devices.length === 0
                ? html`<tr><td colspan="5" class="empty">No devices yet. Click "Add Device" to create one.</td></tr>`
                : data.devices.map((d) => this.#row(d))
          }
        </tbody>
      </table>
      <wa-device-form @device-created=${(e: CustomEvent<KeyedDevice>) => this.#secret.show(`${e.detail.name} is ready`, e.detail.apiKey)}></wa-device-form>
      <wa-device-link></wa-device-link>
      <wa-secret-dialog></wa-secret-dialog>
      <wa-confirm></wa-confirm>
    </section>`;
  }

  #row(d: Device) {
    const profile = [d.pushName, d.phoneNumber && `+${d.phoneNumber}`].filter(Boolean).join(' · ');
    const busy = this.busy === d.id;
    return html`<tr data-device-id=${d.id}>
      <td data-label="Device">
        <div class="who">${d.name}</div>
        ${profile ? html`<div>${profile}</div>` : ''}
        <div class="muted mono">${d.id}</div>
      </td>
      <td data-label="Webhook URL">${d.webhookUrl ? html`<span class="mono">${d.webhookUrl}</span>` : html`<span class="muted">None</span>`}</td>
      <td data-label="Security Token">
        <div class="token">
          <code aria-label="API key, masked">${d.apiKey}</code>
          <button class="small" ?disabled=${busy} aria-label="Regenerate the API key of ${d.name}" @click=${() => this.#regenerate(d)}>Regenerate</button>
        </div>
      </td>
      <td data-label="Status"><span class="badge ${d.status}">${STATE_LABELS[d.status]}</span></td>
      <td data-label="Action">
        <div class="actions">
          ${
            d.status === 'CONNECTED'
              ? html`<button class="small" ?disabled=${busy} aria-label="Disconnect ${d.name}" @click=${() => this.#run(d, disconnectDevice)}>Disconnect</button>
                <button class="small" ?disabled=${busy} aria-label="Log out ${d.name}" @click=${() => this.#logout(d)}>Log out</button>`
              : d.status === 'QR' || d.status === 'CONNECTING'
                ? html`<button class="small primary" aria-label="Show the QR code of ${d.name}" @click=${() => this.#link.open(d)}>Show QR</button>
                  <button class="small" ?disabled=${busy} aria-label="Stop connecting ${d.name}" @click=${() => this.#run(d, disconnectDevice)}>Cancel</button>`
                : html`<button class="small primary" ?disabled=${busy} aria-label="Connect ${d.name}" @click=${() => this.#link.open(d)}>Connect</button>`
          }
          <button class="small" aria-label="Edit ${d.name}" @click=${() => this.#form.open(d)}>Edit</button>
          <button class="small danger" ?disabled=${busy} aria-label="Delete ${d.name}" @click=${() => this.#delete(d)}>Delete</button>
        </div>
      </td>
    </tr>`;
  }

  get #form() {
    return this.renderRoot.querySelector('wa-device-form')!;
  }
  get #link() {
    return this.renderRoot.querySelector('wa-device-link')!;
  }
  get #secret() {
    return this.renderRoot.querySelector('wa-secret-dialog')!;
  }
  get #confirm() {
    return this.renderRoot.querySelector('wa-confirm')!;
  }

  async #run<T>(d: Device, action: (id: string) => Promise<T>): Promise<T | undefined> {
    this.busy = d.id;
    this.error = '';
    try {
      return await action(d.id);
    } catch (error) {
      this.error = `${d.name}: ${messageOf(error)}`;
      return undefined;
    } finally {
      this.busy = '';
    }
  }

  async #regenerate(d: Device) {
    const yes = await this.#confirm.ask({ heading: `New API key for ${d.name}?`, message: 'The current key stops working at once: every client using it must be given the new one.', action: 'Regenerate' });
    if (!yes) return;
    const keyed = await this.#run(d, regenerateKey);
    if (keyed) await this.#secret.show(`New API key for ${d.name}`, keyed.apiKey);
  }

  async #logout(d: Device) {
    const yes = await this.#confirm.ask({ heading: `Log ${d.name} out of WhatsApp?`, message: 'It is unlinked from the phone; connecting again needs a new QR scan.', action: 'Log out' });
    if (yes) await this.#run(d, logoutDevice);
  }

  async #delete(d: Device) {
    const yes = await this.#confirm.ask({
      heading: `Delete ${d.name}?`,
      message: 'The device, its API key and its message log are deleted, and it is logged out of WhatsApp. This cannot be undone.',
      action: 'Delete',
    });
    if (yes) await this.#run(d, deleteDevice);
  }
}

customElements.define('wa-devices', WaDevices);
declare global {
  interface HTMLElementTagNameMap {
    'wa-devices': WaDevices;
  }
}
