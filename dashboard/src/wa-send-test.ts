import { LitElement, html } from 'lit';
import { sendTestMessage, type Dispatched, type MediaType, type TestMessage } from './data/messages.ts';
import { status } from './data/status.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';

/** Send Test Message: through the same routes API clients use, from any connected device. */
export class WaSendTest extends LitElement {
  static properties = { sending: { state: true }, result: { state: true }, error: { state: true }, withMedia: { state: true }, kind: { state: true } };
  static styles = [base];

  #status = new Watch(this, status);
  sending = false;
  result?: Dispatched;
  error = '';
  withMedia = false;
  kind: TestMessage['kind'] = 'message';

  render() {
    const devices = this.#status.value.data?.devices ?? [];
    const connected = devices.filter((d) => d.status === 'CONNECTED');
    return html`<section class="card" aria-labelledby="send-heading">
      <div class="card-head"><h2 id="send-heading">Send Test Message</h2></div>
      <form class="form" @submit=${this.#send} @input=${this.#changed}>
        <div class="row">
          <label
            >Device
            <select name="deviceId" required>
              <option value="">${connected.length ? 'Choose a device' : 'No device is connected'}</option>
              ${devices.map(
                (d) =>
                  html`<option value=${d.id} ?disabled=${d.status !== 'CONNECTED'} ?selected=${connected.length === 1 && d === connected[0]}>${d.name}${d.status === 'CONNECTED' ? '' : ' (not connected)'}</option>`,
              )}
            </select>
          </label>
          <label
            >Recipient number
            <input name="to" type="tel" required placeholder="628123456789" autocomplete="off" aria-describedby="to-hint" />
          </label>
        </div>
        <p class="muted" id="to-hint">With country code (628…), or 08… for Indonesia, or a group id ending in @g.us.</p>
        <label
          >Kind
          <select name="kind">
            <option value="message">Text or media</option>
            <option value="location">Location</option>
            <option value="poll">Poll</option>
          </select>
        </label>
        ${this.kind === 'location' ? this.#locationFields() : this.kind === 'poll' ? this.#pollFields() : this.#messageFields()}
        <div class="actions"><button class="primary" ?disabled=${this.sending || !connected.length}>${this.sending ? 'Sending…' : 'Send message'}</button></div>
      </form>
      <div role="status">
        ${this.result ? html`<p class="success">Sent to <strong>${this.result.to}</strong>: ${this.result.message} (id <code>${this.result.id}</code>)</p>` : ''}
      </div>
      ${this.error ? html`<p class="error" role="alert">Not sent: ${this.error}</p>` : ''}
    </section>`;
  }

  #messageFields() {
    return html`<label>Message <textarea name="message" ?required=${!this.withMedia} placeholder="Hello from WA Gateway"></textarea></label>
      <div class="row">
        <label
          >Media URL <span class="hint">Optional: a public file; the message becomes its caption. A voice note is converted to WhatsApp's format.</span>
          <input name="mediaUrl" type="url" placeholder="https://placehold.co/600x400.png" />
        </label>
        <label
          >Media type
          <select name="type" ?disabled=${!this.withMedia}>
            <option value="image">Image</option>
            <option value="video">Video</option>
            <option value="document">Document</option>
            <option value="audio">Audio</option>
            <option value="voice">Voice note</option>
            <option value="sticker">Sticker</option>
          </select>
        </label>
      </div>`;
  }

  #locationFields() {
    return html`<div class="row">
        <label>Latitude <input name="latitude" type="number" step="any" min="-90" max="90" required placeholder="-6.2" /></label>
        <label>Longitude <input name="longitude" type="number" step="any" min="-180" max="180" required placeholder="106.816666" /></label>
      </div>
      <div class="row">
        <label>Place name <input name="placeName" placeholder="Toko Maju" /></label>
        <label>Address <input name="address" placeholder="Jl. Sudirman 1, Jakarta" /></label>
      </div>`;
  }

  #pollFields() {
    return html`<label>Question <input name="pollName" required maxlength="255" placeholder="Which time suits you?" /></label>
      <label
        >Options <span class="hint">One per line, 2 to 12.</span>
        <textarea name="options" required placeholder=${'09:00\n13:00'}></textarea>
      </label>
      <label class="check"><input name="multiple" type="checkbox" /> Allow more than one answer</label>`;
  }

  #changed(event: Event) {
    const form = event.currentTarget as HTMLFormElement;
    this.kind = (form.elements.namedItem('kind') as HTMLSelectElement).value as TestMessage['kind'];
    const mediaUrl = form.elements.namedItem('mediaUrl') as HTMLInputElement | null;
    this.withMedia = !!mediaUrl && mediaUrl.value.trim() !== '';
  }

  /** The form as the message it describes. */
  #messageOf(form: FormData): TestMessage {
    const field = (name: string) => String(form.get(name) ?? '').trim();
    const addressed = { deviceId: field('deviceId'), to: field('to') };
    if (this.kind === 'location') {
      return { ...addressed, kind: 'location', latitude: Number(field('latitude')), longitude: Number(field('longitude')), name: field('placeName') || undefined, address: field('address') || undefined };
    }
    if (this.kind === 'poll') {
      const options = field('options')
        .split('\n')
        .map((o) => o.trim())
        .filter(Boolean);
      return { ...addressed, kind: 'poll', name: field('pollName'), options, multiple: form.get('multiple') === 'on' };
    }
    return { ...addressed, kind: 'message', message: String(form.get('message') ?? ''), mediaUrl: field('mediaUrl') || undefined, type: (field('type') || 'image') as MediaType };
  }

  async #send(event: SubmitEvent) {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    this.sending = true;
    this.result = undefined;
    this.error = '';
    try {
      this.result = await sendTestMessage(this.#messageOf(form));
    } catch (error) {
      this.error = messageOf(error);
    } finally {
      this.sending = false;
    }
  }
}

customElements.define('wa-send-test', WaSendTest);
declare global {
  interface HTMLElementTagNameMap {
    'wa-send-test': WaSendTest;
  }
}
