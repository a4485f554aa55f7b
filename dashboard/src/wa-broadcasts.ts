import { LitElement, css, html } from 'lit';
import { broadcasts, cancelBroadcast, createBroadcast, firstContactOf, type Broadcast, type NewBroadcast } from './data/broadcasts.ts';
import { groups } from './data/contacts.ts';
import { status } from './data/status.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';
import './wa-confirm.ts';

/** As the gateway fills a message for one recipient: placeholders without a value stay. */
const filled = (text: string, vars: Record<string, string>) => text.replace(/\{(name|var\d+)\}/g, (whole, key: string) => vars[key] ?? whole);

/** "628123|Budi|VIP" as the values its placeholders take. */
function varsOf(line: string): Record<string, string> {
  const [, name, ...rest] = line.split('|').map((s) => s.trim());
  const vars: Record<string, string> = name ? { name } : {};
  for (const [i, value] of rest.entries()) vars[`var${i + 1}`] = value;
  return vars;
}

/** Broadcasts: one message to a contact group or pasted numbers, each copy personalised, and their progress. */
export class WaBroadcasts extends LitElement {
  static properties = { to: { state: true }, sending: { state: true }, error: { state: true }, notice: { state: true }, preview: { state: true } };
  static styles = [
    base,
    css`
      progress {
        width: 100%;
        min-width: 6rem;
      }
      .preview {
        white-space: pre-wrap;
        border-left: 3px solid var(--green);
        padding: 0.25rem 0.75rem;
      }
    `,
  ];

  #status = new Watch(this, status);
  #groups = new Watch(this, groups);
  #broadcasts = new Watch(this, broadcasts);
  to: 'group' | 'numbers' = 'group';
  sending = false;
  error = '';
  notice = '';
  /** The message as the first recipient will see it, and who that is. */
  preview?: { who: string; text: string };
  #previewCall?: AbortController;

  render() {
    const devices = this.#status.value.data?.devices ?? [];
    const groupList = this.#groups.value.data ?? [];
    return html`<section class="card" aria-labelledby="broadcasts-heading">
      <div class="card-head"><h2 id="broadcasts-heading">Broadcasts</h2></div>
      <form class="form" @submit=${this.#send} @input=${this.#changed} @change=${this.#changed}>
        <div class="row">
          <label
            >Device
            <select name="deviceId" required>
              <option value="">Choose a device</option>
              ${devices.map((d) => html`<option value=${d.id} ?selected=${devices.length === 1}>${d.name}${d.status === 'CONNECTED' ? '' : ' (not connected: sent when back)'}</option>`)}
            </select>
          </label>
          <label
            >Send to
            <select name="to">
              <option value="group">A contact group</option>
              <option value="numbers">Numbers I paste</option>
            </select>
          </label>
        </div>
        ${
          this.to === 'group'
            ? html`<label
              >Contact group
              <select name="groupId" required>
                <option value="">Choose a group</option>
                ${groupList.map((g) => html`<option value=${g.id}>${g.name}</option>`)}
              </select>
            </label>`
            : html`<label
              >Numbers <span class="hint">One per line or comma-separated; "628123456789|Budi" fills {name}.</span>
              <textarea name="numbers" required placeholder=${'628123456789|Budi\n08123456780|Sari'}></textarea>
            </label>`
        }
        <label>Message <span class="hint">{name} becomes each contact's name.</span> <textarea name="message" required placeholder="Halo {name}, ..."></textarea></label>
        <div class="row">
          <label>Media URL <span class="hint">Optional: the message becomes its caption.</span> <input name="mediaUrl" type="url" placeholder="https://example.com/promo.jpg" /></label>
          <label>Send at <span class="hint">Optional; empty: now.</span> <input name="schedule" type="datetime-local" /></label>
          <label>Delay <span class="hint">Seconds between recipients: "5" or "1-10".</span> <input name="delay" placeholder="5" pattern="\\s*\\d+\\s*(-\\s*\\d+\\s*)?" /></label>
        </div>
        ${this.preview ? html`<div aria-label="Preview"><p class="muted">Preview for ${this.preview.who}:</p><p class="preview" data-preview>${this.preview.text}</p></div>` : ''}
        <div class="actions"><button class="primary" ?disabled=${this.sending}>${this.sending ? 'Queueing…' : 'Send broadcast'}</button></div>
      </form>
      <div role="status">${this.notice ? html`<p class="success">${this.notice}</p>` : ''}</div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''} ${this.#list(groupList)}
      <wa-confirm></wa-confirm>
    </section>`;
  }

  #list(groupList: { id: string; name: string }[]) {
    const { data, error } = this.#broadcasts.value;
    if (error) return html`<p class="error" role="alert">Could not load the broadcasts: ${error}</p>`;
    const rows = data ?? [];
    const groupName = (id: string | null) => (id ? (groupList.find((g) => g.id === id)?.name ?? 'a group') : 'numbers');
    return html`<table class="cards">
      <thead>
        <tr>
          <th>Created</th>
          <th>To</th>
          <th>Message</th>
          <th>Progress</th>
          <th>Status</th>
          <th><span class="sr-only">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        ${
          rows.length
            ? rows.map(
                (b) => html`<tr data-broadcast=${b.id}>
                <td>${new Date(b.createdAt).toLocaleString()}</td>
                <td>${groupName(b.groupId)} (${b.total})</td>
                <td>${b.message}</td>
                <td>
                  <progress max=${b.total} value=${b.counts.sent + b.counts.failed + b.counts.cancelled}></progress>
                  <div class="muted" data-progress>${this.#progressText(b)}</div>
                </td>
                <td><span class="badge">${b.status}</span></td>
                <td>${b.status === 'queued' || b.status === 'sending' ? html`<button class="small danger" @click=${() => this.#cancel(b)}>Cancel</button>` : ''}</td>
              </tr>`,
              )
            : html`<tr>
              <td class="empty" colspan="6">No broadcasts yet.</td>
            </tr>`
        }
      </tbody>
    </table>`;
  }

  #progressText(b: Broadcast) {
    const c = b.counts;
    const parts = [`${c.sent} sent`, `${c.delivered} delivered`, `${c.read} read`];
    if (c.queued) parts.unshift(`${c.queued} waiting`);
    if (c.failed) parts.push(`${c.failed} failed`);
    if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
    return parts.join(' · ');
  }

  #changed(event: Event) {
    const form = event.currentTarget as HTMLFormElement;
    const field = (name: string) => (form.elements.namedItem(name) as HTMLInputElement | null)?.value ?? '';
    this.to = field('to') === 'numbers' ? 'numbers' : 'group';
    void this.#preview(field('message'), field('groupId'), field('numbers'));
  }

  /** The message for the first recipient: a group's first contact (as the gateway orders them), or the first pasted line. */
  async #preview(message: string, groupId: string, numbers: string) {
    this.#previewCall?.abort();
    if (!message.trim()) return (this.preview = undefined);
    if (this.to === 'numbers') {
      const first = numbers.split(/[,\n]/).find((s) => s.trim()) ?? '';
      const vars = varsOf(first);
      this.preview = first ? { who: vars.name ?? first.split('|')[0]!.trim(), text: filled(message, vars) } : undefined;
      return;
    }
    if (!groupId) return (this.preview = undefined);
    const call = (this.#previewCall = new AbortController());
    try {
      const contact = await firstContactOf(groupId, call.signal);
      if (!call.signal.aborted) this.preview = contact ? { who: contact.name, text: filled(message, { name: contact.name }) } : { who: 'nobody', text: 'This group has no contacts.' };
    } catch {
      if (!call.signal.aborted) this.preview = undefined;
    }
  }

  async #send(event: SubmitEvent) {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const field = (name: string) => String(data.get(name) ?? '').trim();
    const input: NewBroadcast = { deviceId: field('deviceId'), message: String(data.get('message') ?? '') };
    if (this.to === 'group') input.groupId = field('groupId');
    else input.numbers = field('numbers');
    if (field('mediaUrl')) input.media = { url: field('mediaUrl') };
    if (field('schedule')) input.schedule = new Date(field('schedule')).getTime();
    if (field('delay')) input.delay = field('delay');
    this.sending = true;
    this.error = '';
    this.notice = '';
    try {
      const created = await createBroadcast(input);
      this.notice = `Broadcast queued for ${created.total} recipient${created.total === 1 ? '' : 's'}.`;
    } catch (error) {
      this.error = `Not sent: ${messageOf(error)}`;
    } finally {
      this.sending = false;
    }
  }

  async #cancel(b: Broadcast) {
    const confirm = this.renderRoot.querySelector('wa-confirm')!;
    const waiting = b.counts.queued;
    if (!(await confirm.ask({ heading: 'Cancel this broadcast?', message: `The ${waiting} message${waiting === 1 ? '' : 's'} not sent yet will not go; what went out stays.`, action: 'Cancel broadcast' })))
      return;
    this.error = '';
    try {
      const n = await cancelBroadcast(b.id);
      this.notice = `Cancelled ${n} message${n === 1 ? '' : 's'}.`;
    } catch (error) {
      this.error = `Not cancelled: ${messageOf(error)}`;
    }
  }
}

customElements.define('wa-broadcasts', WaBroadcasts);
declare global {
  interface HTMLElementTagNameMap {
    'wa-broadcasts': WaBroadcasts;
  }
}
