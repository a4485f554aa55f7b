import { LitElement, css, html } from 'lit';
import { base } from './styles.ts';
import './wa-copy-button.ts';

export interface SecretOptions {
  /** What the secret is, e.g. "API key" (also its copy button's name and its test id). */
  what?: string;
  /** What to do if it is lost. */
  ifLost?: string;
  /** More to show under it, e.g. how to use it. */
  details?: unknown;
}

/** Shows a new secret (a device's API key, a host's secret), the one time it is ever shown; forgotten when closed. */
export class WaSecretDialog extends LitElement {
  static properties = { heading: { state: true }, secret: { state: true }, options: { state: true } };
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
      dialog.wide {
        width: min(46rem, calc(100vw - 1.5rem));
      }
    `,
  ];

  heading = '';
  secret = '';
  options: SecretOptions = {};

  async show(heading: string, secret: string, options: SecretOptions = {}): Promise<void> {
    this.heading = heading;
    this.secret = secret;
    this.options = options;
    await this.updateComplete;
    this.renderRoot.querySelector('dialog')!.showModal();
  }

  render() {
    const { what = 'API key', ifLost = 'Regenerate it if it is ever lost.', details } = this.options;
    return html`<dialog aria-labelledby="heading" class=${details ? 'wide' : ''} @close=${() => ((this.secret = ''), (this.options = {}))}>
      <h2 id="heading">${this.heading}</h2>
      <p>Store this ${what} now: it is shown only once. ${ifLost}</p>
      <div class="secret">
        <code data-testid=${what.toLowerCase().replace(/\W+/g, '-')}>${this.secret}</code>
        <wa-copy-button .value=${this.secret} label="Copy ${what}"></wa-copy-button>
      </div>
      ${details ?? ''}
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
