import { LitElement, css, html } from 'lit';
import { base } from './styles.ts';
import './wa-copy-button.ts';

/** Shows a device's new API key, the one time it is ever shown; forgotten when closed. */
export class WaSecretDialog extends LitElement {
  static properties = { heading: { state: true }, secret: { state: true } };
  static styles = [
    base,
    css`
      .secret {
        display: flex;
        gap: 0.5rem;
        align-items: center;
        background: var(--soft);
        border: 1px solid var(--line);
        border-radius: 0.5rem;
        padding: 0.6rem 0.75rem;
      }
      .secret code {
        flex: 1;
        font-size: 0.95rem;
      }
    `,
  ];

  heading = '';
  secret = '';

  async show(heading: string, secret: string): Promise<void> {
    this.heading = heading;
    this.secret = secret;
    await this.updateComplete;
    this.renderRoot.querySelector('dialog')!.showModal();
  }

  render() {
    return html`<dialog aria-labelledby="heading" @close=${() => (this.secret = '')}>
      <h2 id="heading">${this.heading}</h2>
      <p>Store this API key now: it is shown only once. Regenerate it if it is ever lost.</p>
      <div class="secret">
        <code data-testid="api-key">${this.secret}</code>
        <wa-copy-button .value=${this.secret} label="Copy API key"></wa-copy-button>
      </div>
      <form method="dialog" class="dialog-actions"><button class="primary">Done</button></form>
    </dialog>`;
  }
}

customElements.define('wa-secret-dialog', WaSecretDialog);
declare global {
  interface HTMLElementTagNameMap {
    'wa-secret-dialog': WaSecretDialog;
  }
}
