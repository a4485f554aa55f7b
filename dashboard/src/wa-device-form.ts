import { LitElement, html } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { createDevice, type DeviceSettings, getDevice, updateDevice, type KeyedDevice } from './data/devices.ts';
import { DEFAULT_HOST, hosts } from './data/hosts.ts';
import type { Device } from './data/status.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';
import './wa-copy-button.ts';

/**
 * Adds a device on a session host of the admin's choice, or edits one's name and webhook URLs (one
 * for everything, and optionally Fonnte-style separate ones for message and device statuses). A new device is announced with a
 * `device-created` event carrying its full API key, for the page to show once.
 */
export class WaDeviceForm extends LitElement {
  static properties = { opened: { state: true }, device: { state: true }, settings: { state: true }, busy: { state: true }, error: { state: true } };
  static styles = [base];

  #hosts = new Watch(this, hosts);
  /** Counts the openings: each gets a fresh form, so nothing typed before lingers. */
  opened = 0;
  device?: Device;
  /** What the status lacks (the webhook secret, the separate URLs): fetched when editing. */
  settings?: DeviceSettings;
  busy = false;
  error = '';

  async open(device?: Device): Promise<void> {
    this.device = device;
    this.settings = undefined;
    this.error = '';
    this.opened++;
    await this.updateComplete;
    this.renderRoot.querySelector('dialog')!.showModal();
    // The secret that signs the webhooks is not in the status: fetched only for the one device.
    if (!device) return;
    const opening = this.opened;
    const settings = await getDevice(device.id).catch(() => undefined);
    if (this.opened === opening) this.settings = settings;
  }

  render() {
    const editing = this.device !== undefined;
    return html`<dialog aria-labelledby="heading">
      <h2 id="heading">${editing ? `Edit ${this.device!.name}` : 'Add device'}</h2>
      ${keyed(
        this.opened,
        html`<form class="form" @submit=${this.#submit}>
        <label>Device name <input name="name" required maxlength="100" autocomplete="off" value=${this.device?.name ?? ''} /></label>
        ${editing ? '' : this.#hostPicker()}
        <label
          >Webhook URL <span class="hint">Optional: incoming messages are posted here, and statuses unless they have their own URL below.</span>
          <input name="webhookUrl" type="url" placeholder="https://example.com/webhook" value=${this.device?.webhookUrl ?? ''}
        /></label>
        <label
          >Message status webhook URL <span class="hint">Optional: sent, delivered, read… go here instead (Fonnte's webhook status).</span>
          <input name="statusWebhookUrl" type="url" placeholder="Empty: to the webhook URL" value=${this.settings?.statusWebhookUrl ?? ''}
        /></label>
        <label
          >Device status webhook URL <span class="hint">Optional: connect and disconnect go here instead (Fonnte's webhook connect).</span>
          <input name="connectionWebhookUrl" type="url" placeholder="Empty: to the webhook URL" value=${this.settings?.connectionWebhookUrl ?? ''}
        /></label>
        ${
          this.settings?.webhookSecret
            ? html`<p class="muted">
              Webhooks are signed (HMAC-SHA256) with <code>${this.settings.webhookSecret}</code>
              <wa-copy-button .value=${this.settings.webhookSecret} label="Copy webhook secret"></wa-copy-button>
            </p>`
            : ''
        }
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
        <div class="dialog-actions">
          <button type="button" @click=${() => this.renderRoot.querySelector('dialog')!.close()}>Cancel</button>
          <button class="primary" ?disabled=${this.busy}>${this.busy ? 'Saving…' : editing ? 'Save' : 'Add device'}</button>
        </div>
      </form>`,
      )}
    </dialog>`;
  }

  /** Which session host runs the new device: the first listed (the default host, when there is one) unless the admin picks another. */
  #hostPicker() {
    const listed = this.#hosts.value.data;
    if (!listed?.length) return '';
    return html`<label
      >Host <span class="hint">The session host that runs its WhatsApp session.</span>
      <select name="hostId">
        ${listed.map((h, i) => html`<option value=${h.id} ?selected=${i === 0}>${h.name}${h.online ? '' : ' (offline)'}</option>`)}
      </select></label
    >`;
  }

  async #submit(event: SubmitEvent) {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    // An empty separate URL falls back to the webhook URL (null); "" (send none) is set through
    // the admin API, and kept here while the field stays empty.
    const own = (field: 'statusWebhookUrl' | 'connectionWebhookUrl') => String(form.get(field)).trim() || (this.settings?.[field] === '' ? '' : null);
    const hostId = form.get('hostId');
    const input = {
      name: String(form.get('name')).trim(),
      ...(hostId && !this.device && { hostId: hostId === DEFAULT_HOST ? null : String(hostId) }),
      webhookUrl: String(form.get('webhookUrl')).trim(),
      // Left out while an edited device's values are still loading, so saving early keeps them.
      ...((!this.device || this.settings) && { statusWebhookUrl: own('statusWebhookUrl'), connectionWebhookUrl: own('connectionWebhookUrl') }),
    };
    this.busy = true;
    this.error = '';
    try {
      if (this.device) await updateDevice(this.device.id, input);
      else this.dispatchEvent(new CustomEvent<KeyedDevice>('device-created', { detail: await createDevice(input) }));
      this.renderRoot.querySelector('dialog')!.close();
    } catch (error) {
      this.error = messageOf(error);
    } finally {
      this.busy = false;
    }
  }
}

customElements.define('wa-device-form', WaDeviceForm);
declare global {
  interface HTMLElementTagNameMap {
    'wa-device-form': WaDeviceForm;
  }
}
