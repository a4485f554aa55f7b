import { LitElement, css, html } from 'lit';
import { LiveRefresh } from './data/events.ts';
import { status } from './data/status.ts';
import { Watch, messageOf } from './data/store.ts';
import { listDeliveries, retryDelivery, type WebhookDelivery } from './data/webhooks.ts';
import { base } from './styles.ts';

/** How often the list is read again while it is on the page and the tab is visible. */
const REFRESH_MS = 3_000;

/** Webhook deliveries: a device's recent webhooks, failures first to the eye, with "Retry now". */
export class WaWebhookDeliveries extends LitElement {
  static properties = { deviceId: { state: true }, deliveries: { state: true }, loading: { state: true }, error: { state: true }, notice: { state: true } };
  static styles = [
    base,
    css`
      label {
        margin-bottom: 0.75rem;
      }
      .failed {
        color: var(--red);
        font-weight: 600;
      }
      .delivered {
        color: #067647;
      }
      .why {
        max-width: 24rem;
        overflow-wrap: anywhere;
        font-size: 0.85rem;
      }
    `,
  ];

  #status = new Watch(this, status);
  deviceId = '';
  deliveries?: WebhookDelivery[];
  loading = false;
  error = '';
  notice = '';
  #call?: AbortController;
  constructor() {
    super();
    // A new webhook of this device (every webhook body is a live event) shows at once; its attempts'
    // outcomes are not events, so the list is still asked for every few seconds.
    new LiveRefresh(this, {
      refresh: () => {
        if (this.deviceId && this.offsetParent !== null) void this.#load(this.deviceId, true);
      },
      wanted: (e) => e.deviceId === this.deviceId && e.event !== 'device',
      pollMs: REFRESH_MS,
      safetyMs: REFRESH_MS,
      afterEventMs: 1_000,
    });
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.#call?.abort();
  }

  render() {
    const devices = this.#status.value.data?.devices ?? [];
    return html`<section class="card" aria-labelledby="webhooks-heading">
      <div class="card-head">
        <h2 id="webhooks-heading">Webhook Deliveries</h2>
        <button class="small" aria-label="Refresh the deliveries" ?disabled=${!this.deviceId || this.loading} @click=${() => this.#load(this.deviceId)}>Refresh</button>
      </div>
      <label
        >Device
        <select @change=${(e: Event) => this.#load((e.target as HTMLSelectElement).value)}>
          <option value="">${devices.length ? 'Choose a device' : 'No devices yet'}</option>
          ${devices.map((d) => html`<option value=${d.id} ?selected=${d.id === this.deviceId}>${d.name}${d.phoneNumber ? ` (+${d.phoneNumber})` : ''}</option>`)}
        </select>
      </label>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      ${this.notice ? html`<p class="success" role="status">${this.notice}</p>` : ''}
      <table class="cards" aria-busy=${this.loading ? 'true' : 'false'}>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Next retry</th>
            <th scope="col">Last error</th>
            <th scope="col"><span class="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          ${this.#rows()}
        </tbody>
      </table>
    </section>`;
  }

  #rows() {
    const empty = (text: string) => html`<tr><td colspan="6" class="empty">${text}</td></tr>`;
    if (!this.deviceId) return empty('Please select a device above.');
    if (!this.deliveries) return empty(this.loading ? 'Loading deliveries...' : 'The deliveries could not be loaded.');
    if (!this.deliveries.length) return empty('No webhooks were sent for this device lately.');
    return this.deliveries.map(
      (d) => html`<tr data-delivery=${d.id} data-status=${d.status}>
        <td data-label="Event">${d.event}${d.messageId ? html`<div class="muted"><code>${d.messageId}</code></div>` : ''}</td>
        <td data-label="Status" class=${d.status === 'failed' ? 'failed' : d.status === 'delivered' ? 'delivered' : ''}>
          <span data-testid="code">${d.statusCode ?? '–'}</span> ${d.status}
        </td>
        <td data-label="Attempts" data-testid="attempts">${d.attempts}</td>
        <td data-label="Next retry">${this.#next(d)}</td>
        <td data-label="Last error" class="why">${d.error ?? ''}</td>
        <td>
          ${d.retryable ? html`<button class="small" aria-label="Retry the ${d.event} webhook ${d.messageId ?? d.id} now" @click=${() => this.#retry(d)}>Retry now</button>` : ''}
        </td>
      </tr>`,
    );
  }

  #next(d: WebhookDelivery) {
    if (d.status === 'delivered') return d.deliveredAt ? `delivered ${relative(d.deliveredAt).replace(/^now$/, 'just now')}` : 'delivered';
    if (d.status === 'dropped') return 'dropped';
    if (!d.nextAttemptAt) return d.status === 'failed' ? 'given up' : '';
    return relative(d.nextAttemptAt);
  }

  async #retry(d: WebhookDelivery) {
    this.error = '';
    try {
      await retryDelivery(this.deviceId, d.id);
      this.notice = `Retrying the ${d.event} webhook now.`;
    } catch (error) {
      this.error = messageOf(error);
    }
    await this.#load(this.deviceId, true);
  }

  /** `quietly`: a refresh keeps the rows shown until the new ones arrive. */
  async #load(deviceId: string, quietly = false) {
    if (!quietly || deviceId !== this.deviceId) {
      this.#call?.abort();
      Object.assign(this, { deviceId, deliveries: undefined, error: '', notice: '', loading: Boolean(deviceId) });
    } else if (this.loading) return;
    if (!deviceId) return;
    const call = (this.#call = new AbortController());
    this.loading = true;
    try {
      const deliveries = await listDeliveries(deviceId, call.signal);
      if (call.signal.aborted) return;
      this.deliveries = deliveries;
      if (quietly) this.error = '';
    } catch (error) {
      if (call.signal.aborted) return;
      this.error = messageOf(error);
    }
    this.loading = false;
  }
}

/** "in 5 min", "12 s ago": how far a time is from now, roughly. */
function relative(iso: string): string {
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const size = Math.abs(seconds);
  if (size < 5) return 'now';
  const amount = size < 90 ? `${size} s` : size < 90 * 60 ? `${Math.round(size / 60)} min` : size < 36 * 3600 ? `${Math.round(size / 3600)} h` : `${Math.round(size / 86_400)} d`;
  return seconds > 0 ? `in ${amount}` : `${amount} ago`;
}

customElements.define('wa-webhook-deliveries', WaWebhookDeliveries);
declare global {
  interface HTMLElementTagNameMap {
    'wa-webhook-deliveries': WaWebhookDeliveries;
  }
}
