import { LitElement, css, html, type TemplateResult } from 'lit';
import { restoreSession, session, signOut, type Session } from './data/session.ts';
import { Watch } from './data/store.ts';
import { base } from './styles.ts';
import './wa-activity.ts';
import './wa-api-docs.ts';
import './wa-broadcasts.ts';
import './wa-contact-groups.ts';
import './wa-contacts.ts';
import './wa-devices.ts';
import './wa-gateway-status.ts';
import './wa-hosts.ts';
import './wa-messages.ts';
import './wa-inbox.ts';
import './wa-send-test.ts';
import './wa-sign-in.ts';
import './wa-stats.ts';
import './wa-webhook-deliveries.ts';
import './wa-whatsapp-groups.ts';

interface View {
  /** Its hash route: #overview. */
  id: string;
  label: string;
  render: () => TemplateResult;
}

/**
 * The dashboard's views, one shown at a time, in the order the navigation lists them. Only the
 * shown one is rendered, so the elements of the others are off the page and stop polling.
 */
const views: View[] = [
  {
    id: 'overview',
    label: 'Overview',
    render: () => html`<wa-stats></wa-stats>
      <wa-gateway-status></wa-gateway-status>
      <wa-devices></wa-devices>
      <wa-activity></wa-activity>
      <wa-hosts></wa-hosts>`,
  },
  { id: 'messages', label: 'Messages', render: () => html`<wa-messages></wa-messages>` },
  { id: 'inbox', label: 'Inbox', render: () => html`<wa-inbox></wa-inbox>` },
  { id: 'broadcasts', label: 'Broadcasts', render: () => html`<wa-broadcasts></wa-broadcasts>` },
  { id: 'webhooks', label: 'Webhooks', render: () => html`<wa-webhook-deliveries></wa-webhook-deliveries>` },
  { id: 'send', label: 'Send', render: () => html`<wa-send-test></wa-send-test>` },
  {
    id: 'contacts',
    label: 'Contacts',
    render: () => html`<div class="pair">
      <wa-contacts></wa-contacts>
      <wa-contact-groups></wa-contact-groups>
    </div>`,
  },
  { id: 'groups', label: 'WhatsApp Groups', render: () => html`<wa-whatsapp-groups></wa-whatsapp-groups>` },
  { id: 'docs', label: 'API Docs', render: () => html`<wa-api-docs></wa-api-docs>` },
];

/** The view the address names; an empty or unknown hash shows the first. */
const viewOf = (hash: string) => views.find((v) => `#${v.id}` === hash) ?? views[0]!;

/** The dashboard: the sign-in form, or once signed in a navigation and the view it points at. */
export class WaApp extends LitElement {
  static styles = [
    base,
    css`
      :host {
        max-width: 72rem;
        margin: 0 auto;
        padding: 1rem;
      }
      header {
        display: flex;
        flex-wrap: wrap;
        gap: 0.75rem;
        align-items: center;
        justify-content: space-between;
        margin-bottom: 1rem;
      }
      h1 {
        font-size: 1.4rem;
        margin: 0;
      }
      h1 span {
        color: var(--green);
      }
      nav {
        /* A tab strip that scrolls sideways on a narrow screen instead of widening the page. */
        display: flex;
        gap: 0.25rem;
        overflow-x: auto;
        margin: 0 -1rem 1rem;
        padding: 0 1rem 0.25rem;
        border-bottom: 1px solid var(--line);
        scrollbar-width: thin;
      }
      nav a {
        flex: none;
        padding: 0.55rem 0.8rem;
        border-bottom: 3px solid transparent;
        color: var(--muted);
        font-weight: 600;
        text-decoration: none;
        white-space: nowrap;
      }
      nav a:hover {
        color: var(--ink);
      }
      nav a[aria-current='page'] {
        color: var(--green-dark);
        border-bottom-color: var(--green);
      }
      main {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 1rem;
      }
      .pair {
        display: grid;
        gap: 1rem;
        grid-template-columns: minmax(0, 1fr);
      }
      @media (min-width: 960px) {
        .pair {
          grid-template-columns: minmax(0, 3fr) minmax(0, 2fr);
        }
      }
      .checking {
        text-align: center;
        margin-top: 20vh;
      }
    `,
  ];

  static properties = { view: { state: true } };

  #session = new Watch(this, session);
  #shown: Session['state'] = 'signed-out';
  view = viewOf(location.hash);
  // Links, back/forward and a typed address all change the hash; the view follows it.
  readonly #follow = () => (this.view = viewOf(location.hash));

  connectedCallback() {
    super.connectedCallback();
    addEventListener('hashchange', this.#follow);
    void restoreSession();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    removeEventListener('hashchange', this.#follow);
  }

  render() {
    const s = this.#session.value;
    if (s.state === 'checking') return html`<p class="checking muted" role="status">Checking your admin key…</p>`;
    if (s.state === 'signed-out') return html`<wa-sign-in></wa-sign-in>`;
    return html`<header>
        <h1 tabindex="-1"><span>WA</span> Gateway</h1>
        <button @click=${() => signOut()}>Sign out</button>
      </header>
      <nav aria-label="Views">
        ${views.map((v) => html`<a href="#${v.id}" aria-current=${v === this.view ? 'page' : 'false'}>${v.label}</a>`)}
      </nav>
      <main id=${`view-${this.view.id}`}>${this.view.render()}</main>`;
  }

  updated() {
    // After signing in, focus moves to the page's heading instead of being lost with the form.
    const now = this.#session.value.state;
    if (now === 'signed-in' && this.#shown === 'signed-out') this.renderRoot.querySelector('h1')?.focus();
    this.#shown = now;
  }
}

customElements.define('wa-app', WaApp);
declare global {
  interface HTMLElementTagNameMap {
    'wa-app': WaApp;
  }
}
