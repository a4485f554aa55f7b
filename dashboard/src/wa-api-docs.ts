import { LitElement, css, html, nothing } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { docs, loadDocs, matches, type RouteDoc } from './data/docs.ts';
import { Watch } from './data/store.ts';
import { base } from './styles.ts';
import './wa-api-route.ts';
import './wa-copy-button.ts';

/**
 * API Integration Documentation, from the gateway's OpenAPI document, with this gateway's URL:
 * each route folded until clicked, and a search that narrows them as one types.
 */
export class WaApiDocs extends LitElement {
  static properties = { query: { state: true } };
  static styles = [
    base,
    css`
      .routes {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 0.5rem;
      }
      .search {
        margin: 0.75rem 0 0.25rem;
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
  query = '';

  render() {
    const { data, error, loading } = this.#docs.value;
    const baseUrl = location.origin;
    const shown = (data ?? []).filter((r) => matches(r, this.query));
    // One route left: the reader is looking for it, so it opens.
    const single = shown.length === 1;
    const group = (title: string, intro: string, routes: RouteDoc[]) =>
      routes.length
        ? html`<h3>${title}</h3>
            <p class="muted">${intro}</p>
            <div class="routes">
              ${repeat(
                routes,
                (r) => r.id,
                (r) => html`<wa-api-route .route=${r} .baseUrl=${baseUrl} ?open=${single} data-route="${r.method} ${r.path}"></wa-api-route>`,
              )}
            </div>`
        : nothing;
    const query = this.query.trim();
    return html`<section class="card" aria-labelledby="docs-heading">
      <div class="card-head"><h2 id="docs-heading">API Integration Documentation</h2></div>
      <p class="base">Base URL <code data-testid="base-url">${baseUrl}</code><wa-copy-button .value=${baseUrl} label="Copy the base URL"></wa-copy-button></p>
      <label class="search"
        >Search routes
        <input type="search" placeholder="Method, path, summary or field, e.g. send-media" .value=${this.query} @input=${(e: Event) => (this.query = (e.target as HTMLInputElement).value)} />
      </label>
      ${
        error
          ? html`<p class="error" role="alert">Could not load the API description: ${error} <button class="small" @click=${loadDocs}>Try again</button></p>`
          : !data
            ? html`<p class="muted" role="status">${loading ? 'Loading...' : ''}</p>`
            : html`<p class="muted" role="status" data-testid="route-count">
                  ${shown.length ? `${shown.length} of ${data.length} routes${query ? ` match "${query}"` : ''}.${single ? '' : ' Click a route to open it.'}` : `No route matches "${query}".`}
                </p>
                ${group(
                  'Sending and status',
                  "Call these with a device's API key (shown when the device is added) as Bearer YOUR_API_KEY; /send also takes the key as is, as Fonnte does. With the admin key, name the device with deviceId.",
                  shown.filter((r) => r.auth !== 'admin'),
                )}
                ${group(
                  'Administration',
                  'These need the admin key: Bearer YOUR_ADMIN_KEY.',
                  shown.filter((r) => r.auth === 'admin'),
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
