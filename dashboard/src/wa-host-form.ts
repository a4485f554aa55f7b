import { LitElement, html } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { addHost, updateHost, type Host, type NewHost } from './data/hosts.ts';
import { messageOf } from './data/store.ts';
import { base } from './styles.ts';

/**
 * Adds a session host, or renames one and changes its URL (a quick tunnel's URL changes on every
 * restart). A new host is announced with a `host-created` event carrying its secret, for the page
 * to show once.
 */
export class WaHostForm extends LitElement {
  static properties = { opened: { state: true }, host: { state: true }, busy: { state: true }, error: { state: true } };
  static styles = [base];

  /** Counts the openings: each gets a fresh form, so nothing typed before lingers. */
  opened = 0;
  host?: Host;
  busy = false;
  error = '';

  async open(host?: Host): Promise<void> {
    this.host = host;
    this.error = '';
    this.opened++;
    await this.updateComplete;
    this.renderRoot.querySelector('dialog')!.showModal();
  }

  render() {
    const editing = this.host !== undefined;
    return html`<dialog aria-labelledby="heading">
      <h2 id="heading">${editing ? `Edit ${this.host!.name}` : 'Add host'}</h2>
      ${keyed(
        this.opened,
        html`<form class="form" @submit=${this.#submit}>
        <label>Host name <input name="name" required maxlength="100" autocomplete="off" value=${this.host?.name ?? ''} /></label>
        <label
          >Host URL <span class="hint">Optional: its public URL (a Cloudflare Tunnel), which the edge dials. Empty: the host dials the edge itself, no open port needed.</span>
          <input name="url" type="url" placeholder="https://….trycloudflare.com" value=${this.host?.url ?? ''}
        /></label>
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
        <div class="dialog-actions">
          <button type="button" @click=${() => this.renderRoot.querySelector('dialog')!.close()}>Cancel</button>
          <button class="primary" ?disabled=${this.busy}>${this.busy ? 'Saving…' : editing ? 'Save' : 'Add host'}</button>
        </div>
      </form>`,
      )}
    </dialog>`;
  }

  async #submit(event: SubmitEvent) {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const input = { name: String(form.get('name')).trim(), url: String(form.get('url')).trim() || null };
    this.busy = true;
    this.error = '';
    try {
      if (this.host) await updateHost(this.host.id, input);
      else this.dispatchEvent(new CustomEvent<NewHost>('host-created', { detail: await addHost(input) }));
      this.renderRoot.querySelector('dialog')!.close();
    } catch (error) {
      this.error = messageOf(error);
    } finally {
      this.busy = false;
    }
  }
}

customElements.define('wa-host-form', WaHostForm);
declare global {
  interface HTMLElementTagNameMap {
    'wa-host-form': WaHostForm;
  }
}
