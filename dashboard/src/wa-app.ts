import { LitElement, css, html } from 'lit';
import { fetchHealth, type ApiHealth } from './data/health.ts';

export class WaApp extends LitElement {
  static properties = { health: { state: true } };

  static styles = css`
    :host {
      display: block;
      max-width: 60rem;
      margin: 0 auto;
      padding: 1.5rem;
      font-family: system-ui, sans-serif;
    }
    .ok {
      color: #15803d;
    }
    .down {
      color: #b91c1c;
    }
  `;

  // A plain field works only because dashboard/tsconfig.json sets useDefineForClassFields: false.
  health: ApiHealth | 'checking' = 'checking';
  #abort?: AbortController;

  connectedCallback() {
    super.connectedCallback();
    this.#abort = new AbortController();
    fetchHealth(this.#abort.signal).then(
      (health) => (this.health = health),
      () => {}, // aborted: the element left the page
    );
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.#abort?.abort();
  }

  render() {
    return html`
      <h1>WA Gateway</h1>
      <p>API: <span class=${this.health}>${this.health}</span></p>
    `;
  }
}

customElements.define('wa-app', WaApp);

declare global {
  interface HTMLElementTagNameMap {
    'wa-app': WaApp;
  }
}
