import { LitElement, css, html } from 'lit';
import { DEFAULT_HOST, hosts, removeHost, type Host, type NewHost } from './data/hosts.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';
import './wa-confirm.ts';
import './wa-copy-button.ts';
import { STATE_LABELS } from './wa-devices.ts';
import './wa-host-form.ts';
import './wa-secret-dialog.ts';

/** The session host's port when it runs with its defaults (PORT). */
const HOST_PORT = 8790;

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
];
function ago(iso: string): string {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) ?? ['second', 1];
  return relative.format(Math.round(seconds / size), unit);
}

/** A command to copy, as it is to be typed. */
const command = (text: string, what: string) => html`<div class="command"><code>${text}</code><wa-copy-button .value=${text} label="Copy the command to ${what}"></wa-copy-button></div>`;

/** How to start a new host at home, both ways, with its real id, secret and this edge's URL. */
function setup(host: NewHost) {
  const edge = location.origin;
  return html`<h3>Start it at home, next to your phone</h3>
    <p>In a copy of this project: <code>git clone &lt;its repository URL&gt; wa-gateway && cd wa-gateway && npm ci --omit=dev</code>. Then one of:</p>
    <p><strong>The host dials this edge</strong> (no open port, no tunnel):</p>
    ${command(`EDGE_URL=${edge} HOST_ID=${host.id} HOST_SECRET=${host.secret} npm run host`, 'start a host that dials in')}
    <p><strong>Or through a Cloudflare quick tunnel</strong> (this edge dials the host): start the host and the tunnel,</p>
    ${command(`HOST_SECRET=${host.secret} npm run host`, 'start the host')}
    ${command(`cloudflared tunnel --url http://127.0.0.1:${HOST_PORT}`, 'start the tunnel')}
    <p>then set this host's URL (Edit) to the <code>https://….trycloudflare.com</code> address cloudflared prints. It changes each time the tunnel restarts.</p>`;
}

/** Hosts: the session hosts that run the WhatsApp sessions, whether each is online, and its devices. */
export class WaHosts extends LitElement {
  static properties = { busy: { state: true }, error: { state: true } };
  static styles = [
    base,
    css`
      .who {
        font-weight: 600;
      }
      ul {
        list-style: none;
        margin: 0;
        padding: 0;
        display: grid;
        gap: 0.25rem;
      }
      .command {
        display: flex;
        gap: 0.5rem;
        align-items: center;
        background: var(--soft);
        border: 1px solid var(--line);
        border-radius: 0.5rem;
        padding: 0.4rem 0.6rem;
        margin: 0.4rem 0;
      }
      .command code {
        flex: 1;
      }
    `,
  ];

  #hosts = new Watch(this, hosts);
  /** The id of the host an action is under way for: its buttons wait. */
  busy = '';
  error = '';

  render() {
    const { data, error, loading } = this.#hosts.value;
    return html`<section class="card" aria-labelledby="hosts-heading">
      <div class="card-head">
        <h2 id="hosts-heading">Hosts</h2>
        <button class="primary" @click=${() => this.#form.open()}>Add Host</button>
      </div>
      ${error ? html`<p class="error" role="alert">Could not load the hosts: ${error}</p>` : ''}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      <table class="cards">
        <thead>
          <tr>
            <th scope="col">Host</th>
            <th scope="col">Connection</th>
            <th scope="col">Status</th>
            <th scope="col">Devices</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          ${
            !data
              ? html`<tr><td colspan="5" class="empty">${loading ? 'Loading hosts...' : 'Hosts could not be loaded.'}</td></tr>`
              : data.length === 0
                ? html`<tr><td colspan="5" class="empty">No hosts yet. Click "Add Host" to add one.</td></tr>`
                : data.map((h) => this.#row(h))
          }
        </tbody>
      </table>
      <wa-host-form
        @host-created=${(e: CustomEvent<NewHost>) =>
          this.#secret.show(`${e.detail.name} is added`, e.detail.secret, { what: 'host secret', ifLost: 'If it is lost, remove the host and add it again.', details: setup(e.detail) })}
      ></wa-host-form>
      <wa-secret-dialog></wa-secret-dialog>
      <wa-confirm></wa-confirm>
    </section>`;
  }

  #row(h: Host) {
    const own = h.id !== DEFAULT_HOST;
    const busy = this.busy === h.id;
    return html`<tr data-host-id=${h.id}>
      <td data-label="Host">
        <div class="who">${h.name}</div>
        <div class="muted mono">${h.id}</div>
      </td>
      <td data-label="Connection">${h.url ? html`Edge dials <span class="mono">${h.url}</span>` : 'Dials in'}</td>
      <td data-label="Status" data-testid="host-status">
        <div><span class="dot ${h.online ? 'on' : 'off'}" aria-hidden="true"></span>${h.online ? 'Online' : 'Offline'}</div>
        <div class="muted">
          ${h.lastSeenAt ? html`Last seen <time datetime=${h.lastSeenAt} title=${new Date(h.lastSeenAt).toLocaleString()}>${ago(h.lastSeenAt)}</time>` : h.online ? 'Last seen now' : 'Not seen yet'}
        </div>
        ${h.version ? html`<div class="muted">Version ${h.version}</div>` : ''}
        ${!h.online && h.lastError ? html`<div class="muted">${h.lastError}</div>` : ''}
      </td>
      <td data-label="Devices">
        ${
          h.devices.length
            ? html`<ul>
              ${h.devices.map((d) => html`<li>${d.name} <span class="badge ${d.status}">${STATE_LABELS[d.status]}</span></li>`)}
            </ul>`
            : html`<span class="muted">None</span>`
        }
      </td>
      <td data-label="Action">
        ${
          own
            ? html`<div class="actions">
              <button class="small" aria-label="Edit ${h.name}" @click=${() => this.#form.open(h)}>Edit</button>
              <button class="small danger" ?disabled=${busy} aria-label="Remove ${h.name}" @click=${() => this.#remove(h)}>Remove</button>
            </div>`
            : html`<span class="muted">Set by the edge's settings</span>`
        }
      </td>
    </tr>`;
  }

  get #form() {
    return this.renderRoot.querySelector('wa-host-form')!;
  }
  get #secret() {
    return this.renderRoot.querySelector('wa-secret-dialog')!;
  }
  get #confirm() {
    return this.renderRoot.querySelector('wa-confirm')!;
  }

  async #remove(h: Host) {
    const names = h.devices.map((d) => d.name).join(', ');
    const yes = await this.#confirm.ask({
      heading: `Remove ${h.name}?`,
      message: h.devices.length
        ? `Its ${h.devices.length === 1 ? 'device is' : `${h.devices.length} devices are`} deleted with it: ${names}. Their API keys stop working and their WhatsApp sessions end. This cannot be undone.`
        : 'It has no devices. It is removed from this gateway, and its secret with it.',
      action: 'Remove',
    });
    if (!yes) return;
    this.busy = h.id;
    this.error = '';
    try {
      await removeHost(h.id);
    } catch (error) {
      this.error = `${h.name}: ${messageOf(error)}`;
    } finally {
      this.busy = '';
    }
  }
}

customElements.define('wa-hosts', WaHosts);
declare global {
  interface HTMLElementTagNameMap {
    'wa-hosts': WaHosts;
  }
}
