import { LitElement, html } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { createDevice, getDevice, updateDevice, type KeyedDevice } from './data/devices.ts';
import type { Device } from './data/status.ts';
import { messageOf } from './data/store.ts';
import { base } from './styles.ts';
import './wa-copy-button.ts';

/**
 * Adds a device, or edits one's name and webhook URL. A new device is announced with a
 * `device-created` event carrying its full API key, for the page to show once.
 */
export class WaDeviceForm extends LitElement {
  static properties = { opened: { state: true }, device: { state: true }, webhookSecret: { state: true }, busy: { state: true }, error: { state: true } };
  static styles = [base];

  /** Counts the openings: each gets a fresh form, so nothing typed before lingers. */
  opened = 0;
  device?: Device;
  webhookSecret = '';
  busy = false;
  error = '';

  async open(device?: Device): Promise<void> {
    this.device = device;
    this.webhookSecret = '';
    this.error = '';
    this.opened++;
    await this.updateComplete;
    this.renderRoot.querySelector('dialog')!.showModal();
    // The secret that signs the webhooks is not in the status: fetched only for the one device.
    if (!device) return;
    const opening = this.opened;
    const secret = await getDevice(device.id).then(
      (d) => d.webhookSecret,
      () => '',
    );
    if (this.opened === opening) this.webhookSecret = secret;
  }

  render() {
    const editing = this.device !== undefined;
    return html`<dialog aria-labelledby="heading">
      <h2 id="heading">${editing ? `Edit ${this.device!.name}` : 'Add device'}</h2>
      ${keyed(
        this.opened,
        html`<form class="form" @submit=${this.#submit}>
        <label>Device name <input name="name" required maxlength="100" autocomplete="off" value=${this.device?.name ?? ''} /></label>
        <label
          >Webhook URL <span class="hint">Optional: incoming messages and status changes are posted here.</span>
          <input name="webhookUrl" type="url" placeholder="https://example.com/webhook" value=${this.device?.webhookUrl ?? ''}
        /></label>
        ${
          this.webhookSecret
            ? html`<p class="muted">
              Webhooks are signed (HMAC-SHA256) with <code>${this.webhookSecret}</code>
              <wa-copy-button .value=${this.webhookSecret} label="Copy webhook secret"></wa-copy-button>
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

  async #submit(event: SubmitEvent) {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const input = { name: String(form.get('name')).trim(), webhookUrl: String(form.get('webhookUrl')).trim() };
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
