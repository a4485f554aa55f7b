import { LitElement, css, html, nothing } from 'lit';
import type { Field, RouteDoc } from './data/docs.ts';
import { Store, Watch } from './data/store.ts';
import { LANGUAGES, snippet, type Language } from './snippets.ts';
import { base } from './styles.ts';
import './wa-copy-button.ts';

// One choice for every route: a reader who wants Python wants it everywhere.
const language = new Store<Language>('curl');

/** What a snippet shows for a path parameter: `devices/:id` and `:deviceId` become DEVICE_ID. */
const placeholderFor = (param: string, resource: string) => `${(param === 'id' ? resource.replace(/s$/, '') : param.replace(/Id$/, '')).toUpperCase()}_ID`;

/** One route of the API documentation: what it does, what it takes, answers, and how to call it. */
export class WaApiRoute extends LitElement {
  static properties = { route: { attribute: false }, baseUrl: {}, open: { type: Boolean } };
  static styles = [
    base,
    css`
      details {
        border: 1px solid var(--line);
        border-radius: 0.75rem;
        background: #fff;
      }
      summary {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        align-items: baseline;
        padding: 0.75rem 1rem;
        cursor: pointer;
      }
      .body {
        padding: 0 1rem 1rem;
        font-size: 0.95rem;
      }
      .method {
        font: 700 0.75rem ui-monospace, Menlo, Consolas, monospace;
        border-radius: 0.35rem;
        padding: 0.15rem 0.45rem;
        color: #fff;
        background: var(--blue);
      }
      .method.POST {
        background: var(--green);
      }
      .method.PATCH {
        background: var(--amber);
      }
      .method.DELETE {
        background: var(--red);
      }
      .path {
        font-weight: 600;
      }
      pre {
        margin: 0;
        padding: 0.75rem;
        background: #0d1117;
        color: #e6edf3;
        border-radius: 0.5rem;
        overflow-x: auto;
        font-size: 0.8rem;
        line-height: 1.45;
      }
      .bar {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem;
        justify-content: space-between;
        margin-bottom: 0.5rem;
      }
      [role='tablist'] {
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem;
      }
      [role='tab'][aria-selected='true'] {
        background: var(--ink);
        color: #fff;
        border-color: var(--ink);
      }
      .responses {
        display: grid;
        gap: 0.75rem;
        grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr));
      }
      td:first-child code {
        overflow-wrap: normal;
      }
      h4 {
        margin: 0 0 0.35rem;
        font-size: 0.85rem;
      }
    `,
  ];

  #language = new Watch(this, language);
  route!: RouteDoc;
  baseUrl = '';
  open = false;

  render() {
    const r = this.route;
    return html`<details ?open=${this.open}>
      <summary>
        <span class="method ${r.method}">${r.method}</span>
        <code class="path">${r.path}</code>
        <span class="muted">${r.summary}</span>
      </summary>
      <div class="body">
        ${r.description ? html`<p>${r.description}</p>` : nothing}
        ${this.#table('Request Headers', 'Header', r.headers)} ${this.#table('Path Parameters', 'Parameter', r.pathParams)}
        ${this.#table('Query Parameters', 'Parameter', r.query)} ${this.#table('Request Parameters (JSON Body)', 'Parameter', r.body)}
        <h3>Code Snippets</h3>
        ${this.#snippets()}
        <h3>Responses</h3>
        <div class="responses">
          ${r.successes.map(
            (s) => html`<div>
              <h4>${s.status} ${s.status === '201' ? 'Created' : 'OK'} (Success)</h4>
              <pre><code>${JSON.stringify(s.example, null, 2)}</code></pre>
            </div>`,
          )}
          <div>
            <h4>${r.errors.map((e) => e.status).join(' / ')} (Error)</h4>
            <pre><code>${JSON.stringify(r.errorExample, null, 2)}</code></pre>
          </div>
        </div>
        ${this.#table(
          'Error Statuses',
          'Status',
          r.errors.map((e) => ({ name: e.status, type: '', required: false, description: e.description })),
          false,
        )}
      </div>
    </details>`;
  }

  #table(title: string, first: string, rows: Field[], full = true) {
    if (!rows.length) return nothing;
    return html`<h3>${title}</h3>
      <table class="cards">
        <thead>
          <tr>
            <th scope="col">${first}</th>
            ${full ? html`<th scope="col">Type</th><th scope="col">Required</th>` : nothing}
            <th scope="col">Description</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(
            (f) => html`<tr>
              <td data-label=${first}><code>${f.name}</code></td>
              ${full ? html`<td data-label="Type">${f.type}</td><td data-label="Required">${f.required ? 'Yes' : 'No'}</td>` : nothing}
              <td data-label="Description">${f.description}</td>
            </tr>`,
          )}
        </tbody>
      </table>`;
  }

  #snippets() {
    const r = this.route;
    const key = r.auth === 'admin' ? 'YOUR_ADMIN_KEY' : 'YOUR_API_KEY';
    const headers: [string, string][] = [];
    if (r.auth !== 'none') headers.push(['Authorization', r.path === '/send' ? key : `Bearer ${key}`]);
    if (r.exampleBody) headers.push(['Content-Type', 'application/json']);
    const path = r.path.replace(/([^/]+)\/:(\w+)/g, (_, resource: string, param: string) => `${resource}/${placeholderFor(param, resource)}`);
    const chosen = this.#language.value;
    const code = snippet(chosen, { method: r.method, url: this.baseUrl + path, headers, body: r.exampleBody });
    const id = (lang: Language) => `${r.id}-${lang}`;
    return html`<div class="bar">
        <div role="tablist" aria-label="Language" @keydown=${this.#arrows}>
          ${LANGUAGES.map(
            (l) => html`<button
              role="tab"
              class="small"
              id=${id(l.id)}
              aria-selected=${l.id === chosen ? 'true' : 'false'}
              aria-controls="${r.id}-panel"
              tabindex=${l.id === chosen ? 0 : -1}
              @click=${() => language.set(l.id)}
            >
              ${l.label}
            </button>`,
          )}
        </div>
        <wa-copy-button .value=${code} label="Copy the ${LANGUAGES.find((l) => l.id === chosen)!.label} snippet"></wa-copy-button>
      </div>
      <pre role="tabpanel" id="${r.id}-panel" aria-labelledby=${id(chosen)} tabindex="0"><code data-language=${chosen}>${code}</code></pre>`;
  }

  /** Arrow keys move between the tabs, as the ARIA tabs pattern has it. */
  #arrows(event: KeyboardEvent) {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const at = LANGUAGES.findIndex((l) => l.id === language.value);
    const next = LANGUAGES[(at + step + LANGUAGES.length) % LANGUAGES.length]!;
    language.set(next.id);
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>(`#${CSS.escape(`${this.route.id}-${next.id}`)}`)?.focus());
  }
}

customElements.define('wa-api-route', WaApiRoute);
declare global {
  interface HTMLElementTagNameMap {
    'wa-api-route': WaApiRoute;
  }
}
