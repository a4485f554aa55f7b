import { LitElement, css, html } from 'lit';
import { docs, loadDocs, type RouteDoc } from './data/docs.ts';
import { Watch } from './data/store.ts';
import { base } from './styles.ts';
import './wa-api-route.ts';
import './wa-copy-button.ts';

/** API Integration Documentation, from the gateway's OpenAPI document, with this gateway's URL. */
export class WaApiDocs extends LitElement {
  static styles = [
    base,
    css`
      .routes {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 0.5rem;
      }
      .base {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: center;
      }
    `,
  ];

  #docs = new Watch(this, docs);

  render() {
    const { data, error, loading } = this.#docs.value;
    const baseUrl = location.origin;
    const group = (title: string, intro: string, routes: RouteDoc[], open: boolean) => html`<h3>${title}</h3>
      <p class="muted">${intro}</p>
      <div class="routes">${routes.map((r) => html`<wa-api-route .route=${r} .baseUrl=${baseUrl} ?open=${open} data-route="${r.method} ${r.path}"></wa-api-route>`)}</div>`;
    return html`<section class="card" aria-labelledby="docs-heading">
      <div class="card-head"><h2 id="docs-heading">API Integration Documentation</h2></div>
      <p class="base">Base URL <code data-testid="base-url">${baseUrl}</code><wa-copy-button .value=${baseUrl} label="Copy the base URL"></wa-copy-button></p>
      ${
        error
          ? html`<p class="error" role="alert">Could not load the API description: ${error} <button class="small" @click=${loadDocs}>Try again</button></p>`
          : !data
            ? html`<p class="muted" role="status">${loading ? 'Loading...' : ''}</p>`
            : html`${group(
                'Sending and status',
                "Call these with a device's API key (shown when the device is added) as Bearer YOUR_API_KEY; /send also takes the key as is, as Fonnte does. With the admin key, name the device with deviceId.",
                data.filter((r) => r.auth !== 'admin'),
                true,
              )}
            ${group(
              'Administration',
              'These need the admin key: Bearer YOUR_ADMIN_KEY.',
              data.filter((r) => r.auth === 'admin'),
              false,
            )}`
      }
    </section>`;
  }
}

customElements.define('wa-api-docs', WaApiDocs);
declare global {
  interface HTMLElementTagNameMap {
    'wa-api-docs': WaApiDocs;
  }
}
