import { LitElement, html } from 'lit';
import { sendTestMessage, type Dispatched, type MediaType } from './data/messages.ts';
import { status } from './data/status.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';

/** Send Test Message: through the same routes API clients use, from any connected device. */
export class WaSendTest extends LitElement {
  static properties = { sending: { state: true }, result: { state: true }, error: { state: true }, withMedia: { state: true } };
  static styles = [base];

  #status = new Watch(this, status);
  sending = false;
  result?: Dispatched;
  error = '';
  withMedia = false;

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
        <label>Message <textarea name="message" ?required=${!this.withMedia} placeholder="Hello from WA Gateway"></textarea></label>
        <div class="row">
          <label
            >Media URL <span class="hint">Optional: a public image, video, document or audio file; the message becomes its caption (voice notes, audio and stickers take none).</span>
            <input name="mediaUrl" type="url" placeholder="https://placehold.co/600x400.png" />
          </label>
          <label
            >Media type
            <select name="type" ?disabled=${!this.withMedia}>
              <option value="image">Image</option>
              <option value="video">Video</option>
              <option value="document">Document</option>
              <option value="voice">Voice note</option>
              <option value="audio">Audio</option>
              <option value="sticker">Sticker</option>
            </select>
          </label>
        </div>
        <div class="actions"><button class="primary" ?disabled=${this.sending || !connected.length}>${this.sending ? 'Sending…' : 'Send message'}</button></div>
      </form>
      <div role="status">
        ${this.result ? html`<p class="success">Sent to <strong>${this.result.to}</strong>: ${this.result.message} (id <code>${this.result.id}</code>)</p>` : ''}
      </div>
      ${this.error ? html`<p class="error" role="alert">Not sent: ${this.error}</p>` : ''}
    </section>`;
  }

  #changed(event: Event) {
    const form = event.currentTarget as HTMLFormElement;
    this.withMedia = (form.elements.namedItem('mediaUrl') as HTMLInputElement).value.trim() !== '';
  }

  async #send(event: SubmitEvent) {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const field = (name: string) => String(form.get(name) ?? '').trim();
    this.sending = true;
    this.result = undefined;
    this.error = '';
    try {
      this.result = await sendTestMessage({
        deviceId: field('deviceId'),
        to: field('to'),
        message: String(form.get('message') ?? ''),
        mediaUrl: field('mediaUrl') || undefined,
        type: (field('type') || 'image') as MediaType,
      });
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
