import { LitElement, css, html } from 'lit';
import { restoreSession, session, signOut, type Session } from './data/session.ts';
import { Watch } from './data/store.ts';
import { base } from './styles.ts';
import './wa-api-docs.ts';
import './wa-contact-groups.ts';
import './wa-contacts.ts';
import './wa-devices.ts';
import './wa-gateway-status.ts';
import './wa-hosts.ts';
import './wa-send-test.ts';
import './wa-sign-in.ts';
import './wa-stats.ts';
import './wa-webhook-deliveries.ts';
import './wa-whatsapp-groups.ts';

/** The dashboard: the sign-in form, or every section once signed in. */
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

  #session = new Watch(this, session);
  #shown: Session['state'] = 'signed-out';

  connectedCallback() {
    super.connectedCallback();
    void restoreSession();
  }

  render() {
    const s = this.#session.value;
    if (s.state === 'checking') return html`<p class="checking muted" role="status">Checking your admin key…</p>`;
    if (s.state === 'signed-out') return html`<wa-sign-in></wa-sign-in>`;
    return html`<header>
        <h1 tabindex="-1"><span>WA</span> Gateway</h1>
        <button @click=${() => signOut()}>Sign out</button>
      </header>
      <main>
        <wa-stats></wa-stats>
        <wa-gateway-status></wa-gateway-status>
        <wa-devices></wa-devices>
        <wa-hosts></wa-hosts>
        <wa-send-test></wa-send-test>
        <div class="pair">
          <wa-contacts></wa-contacts>
          <wa-contact-groups></wa-contact-groups>
        </div>
        <wa-whatsapp-groups></wa-whatsapp-groups>
        <wa-webhook-deliveries id="webhooks"></wa-webhook-deliveries>
        <wa-api-docs></wa-api-docs>
      </main>`;
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
