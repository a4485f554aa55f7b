import { LitElement, css, html } from 'lit';
import { listWaGroups, type WaGroup } from './data/devices.ts';
import { status } from './data/status.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';
import './wa-copy-button.ts';

/** WhatsApp Group List: the groups a connected device is in, live from its session, with ids to copy. */
export class WaWhatsappGroups extends LitElement {
  static properties = { deviceId: { state: true }, groups: { state: true }, loading: { state: true }, error: { state: true } };
  static styles = [base, css`label { margin-bottom: 0.75rem; }`];

  #status = new Watch(this, status);
  deviceId = '';
  groups?: WaGroup[];
  loading = false;
  error = '';
  #call?: AbortController;

  render() {
    const connected = (this.#status.value.data?.devices ?? []).filter((d) => d.status === 'CONNECTED');
    return html`<section class="card" aria-labelledby="wa-groups-heading">
      <div class="card-head">
        <h2 id="wa-groups-heading">WhatsApp Group List</h2>
        <button class="small" aria-label="Refresh the group list" ?disabled=${!this.deviceId || this.loading} @click=${() => this.#load(this.deviceId)}>
          Refresh
        </button>
      </div>
      <label
        >Connected device
        <select @change=${(e: Event) => this.#load((e.target as HTMLSelectElement).value)}>
          <option value="">${connected.length ? 'Choose a device' : 'No device is connected'}</option>
          ${connected.map((d) => html`<option value=${d.id} ?selected=${d.id === this.deviceId}>${d.name}${d.phoneNumber ? ` (+${d.phoneNumber})` : ''}</option>`)}
        </select>
      </label>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      <table class="cards" aria-busy=${this.loading ? 'true' : 'false'}>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Name</th>
          </tr>
        </thead>
        <tbody>
          ${this.#rows()}
        </tbody>
      </table>
    </section>`;
  }

  #rows() {
    const empty = (text: string) => html`<tr><td colspan="2" class="empty">${text}</td></tr>`;
    if (!this.deviceId) return empty('Please select a connected device above.');
    if (this.loading) return empty('Loading groups...');
    if (!this.groups) return empty('The groups could not be loaded.');
    if (!this.groups.length) return empty('This device is in no WhatsApp groups.');
    return this.groups.map(
      (g) => html`<tr>
        <td data-label="Id">
          <div class="row"><code>${g.id}</code><wa-copy-button .value=${g.id} label="Copy the id of ${g.name}"></wa-copy-button></div>
        </td>
        <td data-label="Name">${g.name}</td>
      </tr>`,
    );
  }

  async #load(deviceId: string) {
    this.#call?.abort();
    Object.assign(this, { deviceId, groups: undefined, error: '', loading: Boolean(deviceId) });
    if (!deviceId) return;
    const call = (this.#call = new AbortController());
    try {
      this.groups = await listWaGroups(deviceId, call.signal);
    } catch (error) {
      if (call.signal.aborted) return;
      this.error = messageOf(error);
    }
    this.loading = false;
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.#call?.abort();
  }
}

customElements.define('wa-whatsapp-groups', WaWhatsappGroups);
declare global {
  interface HTMLElementTagNameMap {
    'wa-whatsapp-groups': WaWhatsappGroups;
  }
}
