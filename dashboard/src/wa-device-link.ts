import { LitElement, css, html } from 'lit';
import { connectDevice, pairingCode, scanWithSimulator } from './data/devices.ts';
import { session } from './data/session.ts';
import { status, type Device } from './data/status.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';
import './wa-qr-code.ts';

/**
 * Links a device to WhatsApp: starts its session, then shows the QR code to scan, redrawn as
 * WhatsApp rotates it and replaced by "Connected" as soon as the phone has scanned it; or a
 * pairing code to type on the phone instead.
 */
export class WaDeviceLink extends LitElement {
  static properties = {
    deviceId: { state: true },
    starting: { state: true },
    error: { state: true },
    code: { state: true },
    pairing: { state: true },
    scanning: { state: true },
    requesting: { state: true },
  };
  static styles = [
    base,
    css`
      .qr {
        display: grid;
        justify-items: center;
        gap: 0.75rem;
        margin: 0.75rem 0;
      }
      ol {
        margin: 0.5rem 0;
        padding-left: 1.25rem;
        font-size: 0.9rem;
      }
      .code {
        font: 700 1.75rem/1.2 ui-monospace, Menlo, Consolas, monospace;
        letter-spacing: 0.15em;
        text-align: center;
        margin: 0.75rem 0;
      }
      .connected {
        font-size: 1.1rem;
        text-align: center;
        padding: 1rem;
      }
      details {
        margin-top: 0.75rem;
        border-top: 1px solid var(--line);
        padding-top: 0.75rem;
      }
      summary {
        cursor: pointer;
        font-weight: 600;
      }
    `,
  ];

  #status = new Watch(this, status);
  #session = new Watch(this, session);
  deviceId = '';
  starting = false;
  error = '';
  code = '';
  pairing = false;
  scanning = false;
  requesting = false;

  /** Opens for `device`, starting its session unless it is already linking or linked. */
  async open(device: Device): Promise<void> {
    Object.assign(this, { deviceId: device.id, error: '', code: '', pairing: false, scanning: false, requesting: false });
    await this.updateComplete;
    this.renderRoot.querySelector('dialog')!.showModal();
    if (device.status !== 'DISCONNECTED' && device.status !== 'LOGGED_OUT') return; // already under way
    this.starting = true;
    try {
      await connectDevice(device.id);
    } catch (error) {
      this.error = messageOf(error);
    } finally {
      this.starting = false;
    }
  }

  get #device(): Device | undefined {
    return this.#status.value.data?.devices.find((d) => d.id === this.deviceId);
  }

  render() {
    const device = this.#device;
    return html`<dialog aria-labelledby="heading" @close=${() => (this.deviceId = '')}>
      <h2 id="heading">Link ${device?.name ?? 'device'} to WhatsApp</h2>
      <p class="sr-only" role="status">${this.#announcement(device)}</p>
      ${device ? this.#body(device) : this.deviceId ? html`<p class="error" role="alert">This device no longer exists.</p>` : ''}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      <form method="dialog" class="dialog-actions"><button>Close</button></form>
    </dialog>`;
  }

  /** What a screen reader hears as the state changes; the QR code's own rotations stay silent. */
  #announcement(device: Device | undefined): string {
    if (!device) return '';
    if (device.status === 'CONNECTED') return `${device.name} is connected.`;
    if (this.code) return `Pairing code ${this.code.split('').join(' ')}`;
    if (device.status === 'QR') return 'A QR code is ready to scan.';
    return this.starting ? 'Starting the WhatsApp session…' : '';
  }

  #body(device: Device) {
    if (device.status === 'CONNECTED') {
      const who = [device.pushName, device.phoneNumber && `+${device.phoneNumber}`].filter(Boolean).join(' · ');
      return html`<p class="connected success">✓ Connected${who ? html` as <strong>${who}</strong>` : ''}</p>`;
    }
    if (device.status === 'LOGGED_OUT' && !this.starting) return html`<p>The device was logged out. Close this and connect it again for a new QR code.</p>`;
    return html`
      ${
        device.status === 'QR' && device.qr
          ? html`<div class="qr">
            <wa-qr-code .value=${device.qr} label="QR code to link ${device.name}"></wa-qr-code>
            ${
              this.#session.value.state === 'signed-in' && this.#session.value.demo
                ? html`<button class="primary" ?disabled=${this.scanning} @click=${() => this.#scan(device.id)}>
                  ${this.scanning ? 'Scanning…' : 'Scan with the simulator'}
                </button>`
                : ''
            }
          </div>
          <ol>
            <li>Open WhatsApp on your phone.</li>
            <li>Go to <strong>Settings › Linked devices › Link a device</strong>.</li>
            <li>Point the phone at this code. WhatsApp renews it every 20 seconds or so; this one is always current.</li>
          </ol>`
          : this.error
            ? ''
            : html`<p>${this.starting || device.status === 'CONNECTING' ? 'Starting the WhatsApp session…' : 'Waiting for a QR code…'}</p>`
      }
      <details ?open=${this.pairing} @toggle=${(e: Event) => (this.pairing = (e.target as HTMLDetailsElement).open)}>
        <summary>Link with a phone number instead</summary>
        ${
          this.code
            ? html`<p>On the phone: <strong>Linked devices › Link a device › Link with phone number instead</strong>, then enter:</p>
              <p class="code" data-testid="pairing-code">${this.code}</p>`
            : html`<form class="row" @submit=${(e: SubmitEvent) => this.#requestCode(e, device.id)}>
              <label>Phone number with country code <input name="phone" type="tel" required placeholder="628123456789" autocomplete="tel" /></label>
              <button class="primary" ?disabled=${this.requesting}>${this.requesting ? 'Asking WhatsApp…' : 'Get pairing code'}</button>
            </form>`
        }
      </details>
    `;
  }

  async #requestCode(event: SubmitEvent, id: string) {
    event.preventDefault();
    const phone = String(new FormData(event.target as HTMLFormElement).get('phone')).trim();
    this.error = '';
    this.requesting = true;
    try {
      const code = await pairingCode(id, phone);
      // Shown as WhatsApp shows it on the phone: two groups of four.
      this.code = /^\w{8}$/.test(code) ? `${code.slice(0, 4)}-${code.slice(4)}` : code;
    } catch (error) {
      this.error = messageOf(error);
    } finally {
      this.requesting = false;
    }
  }

  async #scan(id: string) {
    this.scanning = true;
    this.error = '';
    try {
      await scanWithSimulator(id);
    } catch (error) {
      this.error = messageOf(error);
    } finally {
      this.scanning = false;
    }
  }
}

customElements.define('wa-device-link', WaDeviceLink);
declare global {
  interface HTMLElementTagNameMap {
    'wa-device-link': WaDeviceLink;
  }
}
