import { LitElement, css, html, nothing } from 'lit';
import { LiveRefresh } from './data/events.ts';
import { type Chat, type ChatMessage, listChats, loadConversation, mediaBlobUrl, type Received, sendReply } from './data/inbox.ts';
import type { MediaType } from './data/messages.ts';
import { status } from './data/status.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';

/** How often the open view looks for new messages. */
const POLL_MS = 4000;
const UNQUOTABLE = new Set(['edit', 'revoke', 'poll_vote']);
const MEDIA_TYPES: MediaType[] = ['image', 'video', 'document', 'audio', 'voice', 'sticker'];
const TICKS: Record<string, { mark: string; label: string }> = {
  queued: { mark: '🕓', label: 'Queued' },
  sent: { mark: '✓', label: 'Sent' },
  delivered: { mark: '✓✓', label: 'Delivered' },
  read: { mark: '✓✓', label: 'Read' },
  failed: { mark: '!', label: 'Failed' },
};

const time = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
const chatTitle = (c: Chat) => c.name ?? (c.isGroup ? c.chat : `+${c.chat}`);
/** What a message says in a line, for the chat list, quotes and bubbles: types without text say what they are. */
function gist(type: string, text: string): string {
  switch (type) {
    case 'reaction':
      return text ? `Reacted ${text}` : 'Took a reaction back';
    case 'edit':
      return `Edited a message: ${text}`;
    case 'revoke':
      return 'Deleted a message';
    case 'poll':
      return `Poll: ${text}`;
    case 'poll_vote':
      return text ? `Voted: ${text}` : 'Voted';
    case 'location':
      return `📍 ${text}`;
    case 'contact':
      return `Contact: ${text}`;
    default:
      return text || `[${type}]`;
  }
}

/** The inbox: pick a device, a chat, read its conversation and reply (quoting a message if wished). */
export class WaInbox extends LitElement {
  static properties = {
    deviceId: { state: true },
    chats: { state: true },
    chat: { state: true },
    messages: { state: true },
    replyTo: { state: true },
    sending: { state: true },
    error: { state: true },
    sendError: { state: true },
    media: { state: true },
  };
  static styles = [
    base,
    css`
      .panes {
        display: grid;
        gap: 1rem;
        grid-template-columns: minmax(0, 1fr);
        align-items: start;
        margin-top: 0.75rem;
      }
      @media (min-width: 800px) {
        .panes {
          grid-template-columns: minmax(0, 2fr) minmax(0, 5fr);
        }
      }
      .chats {
        list-style: none;
        margin: 0;
        padding: 0;
        max-height: 32rem;
        overflow-y: auto;
        border: 1px solid var(--line);
        border-radius: 0.5rem;
      }
      .chats button {
        display: grid;
        width: 100%;
        text-align: left;
        border: 0;
        border-bottom: 1px solid var(--line);
        border-radius: 0;
        white-space: normal;
        gap: 0.15rem;
      }
      .chats button[aria-current='true'] {
        background: #e7f6f4;
      }
      .chats .last {
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .conversation {
        display: flex;
        flex-direction: column;
        gap: 0.5rem;
        max-height: 32rem;
        overflow-y: auto;
        padding: 0.5rem;
        background: var(--soft);
        border-radius: 0.5rem;
      }
      .bubble {
        max-width: 85%;
        padding: 0.4rem 0.6rem;
        border-radius: 0.6rem;
        background: #fff;
        border: 1px solid var(--line);
        align-self: flex-start;
        overflow-wrap: anywhere;
      }
      .bubble.out {
        align-self: flex-end;
        background: #dcf8c6;
      }
      .bubble .meta {
        display: flex;
        gap: 0.5rem;
        align-items: center;
        justify-content: flex-end;
        font-size: 0.75rem;
        color: var(--muted);
      }
      .bubble img {
        display: block;
        max-width: 100%;
        max-height: 16rem;
        border-radius: 0.4rem;
      }
      .quote {
        border-left: 3px solid var(--green);
        padding-left: 0.4rem;
        font-size: 0.8rem;
        color: var(--muted);
      }
      .tick.read {
        color: var(--blue);
      }
      .tick.failed {
        color: var(--red);
      }
      .sender {
        font-size: 0.8rem;
        font-weight: 600;
        color: var(--green-dark);
      }
      form {
        margin-top: 0.75rem;
      }
      textarea {
        min-height: 3rem;
      }
    `,
  ];

  #status = new Watch(this, status);
  deviceId = '';
  chats?: Chat[];
  chat = '';
  messages?: ChatMessage[];
  replyTo?: ChatMessage;
  sending = false;
  error = '';
  sendError = '';
  /** Blob URLs of received images (and files once asked for), by message id. */
  media: Record<string, string | 'loading' | 'failed'> = {};
  #call?: AbortController;
  constructor() {
    super();
    // A message in or a status change of this device: the chats and the conversation again.
    new LiveRefresh(this, {
      refresh: () => void this.#refresh(),
      wanted: (e) => e.deviceId === this.deviceId && (e.event === 'message' || e.event === 'status'),
      pollMs: POLL_MS,
    });
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.#call?.abort();
    this.#forgetMedia();
  }

  render() {
    const devices = this.#status.value.data?.devices ?? [];
    return html`<section class="card" aria-labelledby="inbox-heading">
      <div class="card-head">
        <h2 id="inbox-heading">Inbox</h2>
        <button class="small" ?disabled=${!this.deviceId} @click=${() => this.#refresh()}>Refresh</button>
      </div>
      <label
        >Device
        <select name="device" @change=${(e: Event) => this.#pickDevice((e.target as HTMLSelectElement).value)}>
          <option value="">${devices.length ? 'Choose a device' : 'No devices yet'}</option>
          ${devices.map((d) => html`<option value=${d.id} ?selected=${d.id === this.deviceId}>${d.name}${d.phoneNumber ? ` (+${d.phoneNumber})` : ''}</option>`)}
        </select>
      </label>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${this.deviceId ? html`<div class="panes">${this.#chatList()}${this.#conversation()}</div>` : nothing}
    </section>`;
  }

  #chatList() {
    if (!this.chats) return html`<p class="muted">Loading chats…</p>`;
    if (!this.chats.length) return html`<p class="muted">No messages received yet (the inbox keeps them for 30 days by default).</p>`;
    return html`<ul class="chats" aria-label="Chats">
      ${this.chats.map(
        (c) => html`<li>
          <button class="chat" aria-current=${c.chat === this.chat ? 'true' : 'false'} data-chat=${c.chat} @click=${() => this.#pickChat(c.chat)}>
            <strong>${chatTitle(c)}</strong>
            <span class="last muted">${gist(c.lastMessage.type, c.lastMessage.text)}</span>
            <span class="muted">${time(c.lastAt)}</span>
          </button>
        </li>`,
      )}
    </ul>`;
  }

  #conversation() {
    if (!this.chat) return html`<p class="muted">Choose a chat to read it and reply.</p>`;
    const chat = this.chats?.find((c) => c.chat === this.chat);
    // An edit or a delete whose message is shown is told on that message instead.
    const ids = new Set(this.messages?.map((m) => m.id));
    const shown = [...(this.messages ?? [])].reverse().filter((m) => !(m.direction === 'in' && (m.type === 'edit' || m.type === 'revoke') && ids.has(aboutId(m))));
    return html`<div>
      <h3>${chat ? chatTitle(chat) : this.chat}</h3>
      <div class="conversation" role="log" aria-label="Conversation">
        ${this.messages ? (shown.length ? shown.map((m) => this.#bubble(m)) : html`<p class="muted">No messages.</p>`) : html`<p class="muted">Loading…</p>`}
      </div>
      ${this.#replyForm()}
    </div>`;
  }

  #bubble(m: ChatMessage) {
    const quoted = m.direction === 'in' && m.quotedId ? this.messages?.find((other) => other.id === m.quotedId) : undefined;
    // The host remembers received messages for quoting, but not edits, deletes and votes (they are about another message).
    const canQuote = m.direction === 'in' ? !UNQUOTABLE.has(m.type) && !m.deletedAt : m.status !== 'queued' && m.status !== 'failed';
    const state = m.direction === 'out' ? m.status : undefined;
    const tick = state ? TICKS[state] : undefined;
    return html`<div class="bubble ${m.direction}" data-id=${m.id}>
      ${m.direction === 'in' && chatIsGroup(this.chat) ? html`<div class="sender">${m.senderName ?? m.sender}</div>` : nothing}
      ${quoted ? html`<div class="quote">${gist(quoted.type, quoted.text)}</div>` : nothing} ${m.direction === 'in' && m.media ? this.#media(m) : nothing}
      <div class="text">${(m.direction === 'out' && m.deleted) || (m.direction === 'in' && m.deletedAt) ? html`<em>Deleted for everyone</em>` : gist(m.type, m.text)}</div>
      ${m.direction === 'out' && m.status === 'failed' && m.error ? html`<div class="muted">${m.error}</div>` : nothing}
      <div class="meta">
        ${m.direction === 'in' && m.editedAt && !m.deletedAt ? html`<span>Edited</span>` : nothing}
        <time datetime=${m.timestamp}>${time(m.timestamp)}</time>
        ${tick ? html`<span class="tick ${state}" title=${tick.label} aria-label=${tick.label}>${tick.mark}</span>` : nothing}
        ${canQuote ? html`<button class="small reply" aria-label="Reply to this message" @click=${() => this.#quote(m)}>Reply</button>` : nothing}
      </div>
    </div>`;
  }

  #media(m: Received) {
    const got = this.media[m.id];
    const name = m.media?.fileName ?? `${m.type} file`;
    if (m.type === 'image' || m.type === 'sticker') {
      if (got === 'failed') return html`<p class="muted">The image could not be loaded.</p>`;
      if (!got || got === 'loading') return html`<p class="muted">Loading image…</p>`;
      return html`<img src=${got} alt=${m.text || 'Received image'} />`;
    }
    if (got && got !== 'loading' && got !== 'failed') return html`<a href=${got} download=${name}>Save ${name}</a>`;
    return html`<button class="small" ?disabled=${got === 'loading'} @click=${() => this.#fetchMedia(m.id)}>
      ${got === 'failed' ? 'Try the download again' : `Download ${name}`}
    </button>`;
  }

  /** Images are drawn as soon as they are in the conversation: each is fetched once, after the render that shows it. */
  updated() {
    for (const m of this.messages ?? []) {
      if (m.direction === 'in' && m.media && (m.type === 'image' || m.type === 'sticker') && this.media[m.id] === undefined) void this.#fetchMedia(m.id);
    }
  }

  #replyForm() {
    return html`<form class="form" @submit=${(e: Event) => this.#send(e)}>
      ${
        this.replyTo
          ? html`<div class="quote row" aria-label="Replying to">
            <span>Replying to: ${gist(this.replyTo.type, this.replyTo.text)}</span>
            <button type="button" class="small" aria-label="Do not quote" @click=${() => (this.replyTo = undefined)}>×</button>
          </div>`
          : nothing
      }
      <label>Message <textarea name="text" placeholder="Write a reply"></textarea></label>
      <div class="row">
        <label>Media URL (optional) <input name="mediaUrl" type="url" placeholder="https://…" /></label>
        <label
          >Media type
          <select name="type">
            ${MEDIA_TYPES.map((t) => html`<option value=${t}>${t}</option>`)}
          </select>
        </label>
        <button class="primary" type="submit" ?disabled=${this.sending}>${this.sending ? 'Sending…' : 'Send'}</button>
      </div>
      ${this.sendError ? html`<p class="error" role="alert">${this.sendError}</p>` : nothing}
    </form>`;
  }

  #quote(m: ChatMessage) {
    this.replyTo = m;
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLTextAreaElement>('textarea[name=text]')?.focus());
  }

  async #send(e: Event) {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    const text = String(data.get('text') ?? '').trim();
    const mediaUrl = String(data.get('mediaUrl') ?? '').trim();
    if (!text && !mediaUrl) {
      this.sendError = 'Write a message or give a media URL.';
      return;
    }
    this.sending = true;
    this.sendError = '';
    try {
      await sendReply({ deviceId: this.deviceId, chat: this.chat, text, mediaUrl: mediaUrl || undefined, type: data.get('type') as MediaType, quotedId: this.replyTo?.id });
      form.reset();
      this.replyTo = undefined;
      await this.#refresh();
    } catch (error) {
      this.sendError = messageOf(error);
    }
    this.sending = false;
  }

  async #fetchMedia(id: string) {
    const deviceId = this.deviceId;
    this.media = { ...this.media, [id]: 'loading' };
    const url = await mediaBlobUrl(deviceId, id).catch(() => 'failed' as const);
    if (deviceId !== this.deviceId) {
      if (url !== 'failed') URL.revokeObjectURL(url);
      return;
    }
    this.media = { ...this.media, [id]: url };
  }

  #forgetMedia() {
    for (const url of Object.values(this.media)) if (url.startsWith('blob:')) URL.revokeObjectURL(url);
    this.media = {};
  }

  #pickDevice(deviceId: string) {
    this.#forgetMedia();
    Object.assign(this, { deviceId, chats: undefined, chat: '', messages: undefined, replyTo: undefined, error: '' });
    void this.#refresh();
  }

  #pickChat(chat: string) {
    Object.assign(this, { chat, messages: undefined, replyTo: undefined, sendError: '' });
    void this.#refresh();
  }

  /** Loads the chat list and the open conversation again; an answer for a choice since left is dropped. */
  async #refresh() {
    if (!this.deviceId) return;
    this.#call?.abort();
    const call = (this.#call = new AbortController());
    const { deviceId, chat } = this;
    try {
      const [chats, messages] = await Promise.all([listChats(deviceId, call.signal), chat ? loadConversation(deviceId, chat, call.signal) : undefined]);
      if (call.signal.aborted) return;
      this.chats = chats;
      if (chat) this.messages = messages;
      this.error = '';
    } catch (error) {
      if (!call.signal.aborted) this.error = messageOf(error);
    }
  }
}

const chatIsGroup = (chat: string) => chat.endsWith('@g.us');
/** The message an edit or a delete is about. */
const aboutId = (m: Received) => String((m.details?.edit as { messageId?: string } | undefined)?.messageId ?? (m.details?.revoke as { messageId?: string } | undefined)?.messageId ?? '');

customElements.define('wa-inbox', WaInbox);
declare global {
  interface HTMLElementTagNameMap {
    'wa-inbox': WaInbox;
  }
}
