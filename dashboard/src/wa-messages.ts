import { LitElement, css, html, nothing } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { SHOWN_STATUSES, cancelMessage, filterLog, messageLog, rescheduleMessage, shownStatus, turnPage, type LogFilter, type LoggedMessage } from './data/messages.ts';
import { status } from './data/status.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';
import './wa-confirm.ts';

const SEARCH_DELAY_MS = 300;

/** A time as the viewer reads it: the date, then the time to the second. */
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) : '');

/** A Date as a datetime-local input wants it, in the viewer's time zone. */
const localInput = (date: Date) => new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

/** Messages: the message log, live, with filters, paging, and cancel or reschedule of a queued message. */
export class WaMessages extends LitElement {
  static properties = { moving: { state: true }, opened: { state: true }, busy: { state: true }, error: { state: true }, formError: { state: true } };
  static styles = [
    base,
    css`
      .filters {
        display: grid;
        gap: 0.5rem;
        grid-template-columns: repeat(auto-fit, minmax(9.5rem, 1fr));
        margin-bottom: 0.75rem;
      }
      .status {
        text-transform: capitalize;
      }
      .status.delivered,
      .status.read {
        background: #dcfae6;
        color: #067647;
      }
      .status.sent {
        background: #d1e9ff;
        color: var(--blue);
      }
      .status.queued {
        background: #fef0c7;
        color: var(--amber);
      }
      .status.failed {
        background: #fee4e2;
        color: var(--red);
      }
      .times {
        margin: 0;
        display: grid;
        grid-template-columns: auto 1fr;
        gap: 0 0.5rem;
        font-size: 0.8rem;
      }
      .times dt {
        color: var(--muted);
      }
      .times dd {
        margin: 0;
      }
      .preview {
        display: block;
        color: var(--muted);
        font-size: 0.8rem;
        max-width: 16rem;
        overflow-wrap: anywhere;
      }
      @media (min-width: 641px) {
        .to,
        .times dd {
          white-space: nowrap;
        }
      }
      .pager {
        display: flex;
        gap: 0.5rem;
        align-items: center;
        justify-content: flex-end;
        margin-top: 0.75rem;
      }
    `,
  ];

  #log = new Watch(this, messageLog);
  #devices = new Watch(this, status);
  /** The queued message the reschedule dialog moves. */
  moving?: LoggedMessage;
  /** Counts the dialog's openings: each gets a fresh form. */
  opened = 0;
  /** The id of the message an action is under way for: its buttons wait. */
  busy = '';
  error = '';
  formError = '';
  #searchTimer?: ReturnType<typeof setTimeout>;

  disconnectedCallback() {
    super.disconnectedCallback();
    clearTimeout(this.#searchTimer);
  }

  render() {
    const { data, error, loading, filter, cursors, nextCursor } = this.#log.value;
    const devices = this.#devices.value.data?.devices ?? [];
    const narrowed = Object.values(filter).some(Boolean);
    const set = (key: keyof LogFilter) => (e: Event) => void filterLog({ [key]: (e.target as HTMLInputElement).value });
    return html`<section class="card" aria-labelledby="messages-heading">
      <div class="card-head"><h2 id="messages-heading">Messages</h2></div>
      <form class="filters" aria-label="Filter messages" @submit=${(e: Event) => e.preventDefault()}>
        <label
          >Device
          <select @change=${set('deviceId')} .value=${filter.deviceId}>
            <option value="">All devices</option>
            ${devices.map((d) => html`<option value=${d.id} ?selected=${d.id === filter.deviceId}>${d.name}</option>`)}
          </select>
        </label>
        <label
          >Status
          <select @change=${set('status')} .value=${filter.status}>
            <option value="">Any status</option>
            ${SHOWN_STATUSES.map((s) => html`<option value=${s} ?selected=${s === filter.status}>${s}</option>`)}
          </select>
        </label>
        <label>Recipient <input type="search" inputmode="tel" placeholder="628123456789" .value=${filter.to} @input=${this.#recipient} /></label>
        <label>From <input type="date" .value=${filter.from} @change=${set('from')} /></label>
        <label>Until <input type="date" .value=${filter.until} @change=${set('until')} /></label>
      </form>
      ${error ? html`<p class="error" role="alert">Could not load the messages: ${error}</p>` : nothing}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <table class="cards" aria-busy=${loading ? 'true' : 'false'}>
        <thead>
          <tr>
            <th scope="col">Status</th>
            <th scope="col">Recipient</th>
            <th scope="col">Device</th>
            <th scope="col">Type</th>
            <th scope="col">Times</th>
            <th scope="col">Attempts</th>
            <th scope="col">Error</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          ${
            !data
              ? html`<tr><td colspan="8" class="empty">${loading ? 'Loading messages...' : 'Messages could not be loaded.'}</td></tr>`
              : data.length === 0
                ? html`<tr><td colspan="8" class="empty">${narrowed ? 'No message matches these filters.' : 'No messages yet. Messages sent through the API show here.'}</td></tr>`
                : data.map((m) => this.#row(m, devices.find((d) => d.id === m.deviceId)?.name ?? m.deviceId))
          }
        </tbody>
      </table>
      <div class="pager">
        <span class="muted">Page ${cursors.length}</span>
        <button class="small" ?disabled=${cursors.length < 2} @click=${() => turnPage(-1)}>Newer</button>
        <button class="small" ?disabled=${!nextCursor} @click=${() => turnPage(1)}>Older</button>
      </div>
      ${this.#rescheduleDialog()}
      <wa-confirm></wa-confirm>
    </section>`;
  }

  #row(m: LoggedMessage, device: string) {
    const shown = shownStatus(m);
    const times: [string, string | null][] = [
      ['Created', m.createdAt],
      ['Scheduled', m.scheduledAt],
      ['Sent', m.sentAt],
      ['Delivered', m.deliveredAt],
      ['Read', m.readAt],
      [shown === 'cancelled' ? 'Cancelled' : 'Failed', m.failedAt],
    ];
    const busy = this.busy === m.id;
    return html`<tr data-message-id=${m.id}>
      <td data-label="Status"><span class="badge status ${shown}" data-testid="message-status">${shown}</span></td>
      <td data-label="Recipient"><span class="mono to">${m.to}</span></td>
      <td data-label="Device">${device}</td>
      <td data-label="Type">
        <span>${m.type}${m.preview ? html`<span class="preview">${m.preview}</span>` : nothing}</span>
      </td>
      <td data-label="Times">
        <dl class="times">${times.filter(([, at]) => at).map(([label, at]) => html`<dt>${label}</dt><dd data-time=${label.toLowerCase()}>${when(at)}</dd>`)}</dl>
      </td>
      <td data-label="Attempts">${m.attempts}</td>
      <td data-label="Error">${shown === 'cancelled' ? '' : (m.error ?? '')}</td>
      <td data-label="Action">
        ${
          m.status === 'queued'
            ? html`<div class="actions">
                <button class="small" ?disabled=${busy} aria-label="Reschedule the message to ${m.to}" @click=${() => this.#openReschedule(m)}>Reschedule</button>
                <button class="small danger" ?disabled=${busy} aria-label="Cancel the message to ${m.to}" @click=${() => this.#cancel(m)}>Cancel</button>
              </div>`
            : nothing
        }
      </td>
    </tr>`;
  }

  #rescheduleDialog() {
    const m = this.moving;
    const at = m?.scheduledAt ? new Date(m.scheduledAt) : new Date();
    return html`<dialog aria-labelledby="reschedule-heading">
      <h2 id="reschedule-heading">Reschedule the message to ${m?.to ?? ''}?</h2>
      ${keyed(
        this.opened,
        html`<form class="form" @submit=${this.#reschedule}>
          <p class="muted">It is due ${m?.scheduledAt ? when(m.scheduledAt) : 'now'}. A time in the past sends it now.</p>
          <label>Send at <input name="at" type="datetime-local" required value=${localInput(at)} /></label>
          ${this.formError ? html`<p class="error" role="alert">${this.formError}</p>` : nothing}
          <div class="dialog-actions">
            <button type="button" @click=${() => this.renderRoot.querySelector('dialog')!.close()}>Cancel</button>
            <button class="primary" ?disabled=${this.busy !== ''}>Reschedule</button>
          </div>
        </form>`,
      )}
    </dialog>`;
  }

  #recipient(event: Event) {
    const to = (event.target as HTMLInputElement).value;
    clearTimeout(this.#searchTimer);
    this.#searchTimer = setTimeout(() => void filterLog({ to }), SEARCH_DELAY_MS);
  }

  async #openReschedule(m: LoggedMessage) {
    this.moving = m;
    this.formError = '';
    this.opened++;
    await this.updateComplete;
    this.renderRoot.querySelector('dialog')!.showModal();
  }

  async #reschedule(event: SubmitEvent) {
    event.preventDefault();
    const m = this.moving!;
    const at = new Date(String(new FormData(event.target as HTMLFormElement).get('at')));
    if (Number.isNaN(at.getTime())) {
      this.formError = 'Pick a date and time.';
      return;
    }
    this.busy = m.id;
    this.formError = '';
    try {
      await rescheduleMessage(m.id, at);
      this.renderRoot.querySelector('dialog')!.close();
    } catch (error) {
      this.formError = messageOf(error);
    } finally {
      this.busy = '';
    }
  }

  async #cancel(m: LoggedMessage) {
    const confirm = this.renderRoot.querySelector('wa-confirm')!;
    const yes = await confirm.ask({
      heading: `Cancel the message to ${m.to}?`,
      message: 'It will not be sent. The log keeps it, marked cancelled.',
      action: 'Cancel message',
    });
    if (!yes) return;
    this.busy = m.id;
    this.error = '';
    try {
      await cancelMessage(m.id);
    } catch (error) {
      this.error = `Not cancelled: ${messageOf(error)}`;
    } finally {
      this.busy = '';
    }
  }
}

customElements.define('wa-messages', WaMessages);
declare global {
  interface HTMLElementTagNameMap {
    'wa-messages': WaMessages;
  }
}
