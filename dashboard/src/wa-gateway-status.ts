import { LitElement, css, html } from 'lit';
import { status } from './data/status.ts';
import { Watch } from './data/store.ts';
import { base } from './styles.ts';
import './wa-copy-button.ts';

/** API Gateway Status: where the API is, and whether it answers. */
export class WaGatewayStatus extends LitElement {
  static styles = [
    base,
    css`
      dl {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr));
        gap: 0.75rem 1.5rem;
        margin: 0;
      }
      dt {
        font-size: 0.8rem;
        font-weight: 600;
        color: var(--muted);
      }
      dd {
        margin: 0.2rem 0 0;
        overflow-wrap: anywhere;
      }
    `,
  ];

  #status = new Watch(this, status);

  render() {
    const { data, error, loading } = this.#status.value;
    // The Worker serves this page and the API alike, so this page's origin is the API's URL.
    const apiUrl = location.origin;
    const state = error || data?.hostOnline === false ? 'off' : data ? 'on' : '';
    const connection = error ? `Unreachable: ${error}` : !data ? 'Checking...' : data.hostOnline ? 'Online' : 'API online, session host offline';
    return html`<section class="card" aria-labelledby="gateway-heading">
      <div class="card-head"><h2 id="gateway-heading">API Gateway Status</h2></div>
      <dl>
        <div>
          <dt>API Server URL</dt>
          <dd><code>${apiUrl}</code> <wa-copy-button .value=${apiUrl} label="Copy the API server URL"></wa-copy-button></dd>
        </div>
        <div>
          <dt>Session host public URL</dt>
          <dd>
            ${data?.publicUrl ? html`<code>${data.publicUrl}</code>` : html`<span class="muted">${loading ? 'Loading...' : 'Not reported (the host is offline or has no PUBLIC_URL)'}</span>`}
          </dd>
        </div>
        <div>
          <dt>Connection Status</dt>
          <dd role="status" data-testid="connection-status">
            <span class="dot ${state}" aria-hidden="true"></span>${connection}
          </dd>
        </div>
      </dl>
    </section>`;
  }
}

customElements.define('wa-gateway-status', WaGatewayStatus);
declare global {
  interface HTMLElementTagNameMap {
    'wa-gateway-status': WaGatewayStatus;
  }
}
