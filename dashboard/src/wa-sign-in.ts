import { LitElement, css, html } from 'lit';
import { session, signIn } from './data/session.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';

/** Signing in with the admin key; a refused key is said so plainly. */
export class WaSignIn extends LitElement {
  static properties = { busy: { state: true }, error: { state: true } };
  static styles = [
    base,
    css`
      :host {
        max-width: 26rem;
        margin: 12vh auto 0;
      }
      h1 {
        font-size: 1.5rem;
        margin: 0 0 0.25rem;
      }
    `,
  ];

  #session = new Watch(this, session);
  busy = false;
  error = '';

  render() {
    const s = this.#session.value;
    const notice = s.state === 'signed-out' ? s.notice : undefined;
    return html`<main class="card">
      <h1>WA Gateway</h1>
      <p class="muted">Sign in to the admin dashboard.</p>
      ${notice && !this.error ? html`<p class="error" role="alert">${notice}</p>` : ''}
      <form class="form" @submit=${this.#submit}>
        <label
          >Admin key
          <input name="key" type="password" required autocomplete="current-password" autofocus aria-describedby="key-hint" aria-invalid=${this.error ? 'true' : 'false'} />
        </label>
        <p class="muted" id="key-hint">The ADMIN_KEY the gateway runs with (<code>npm start</code> prints it). It is kept only in this tab.</p>
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
        <button class="primary" ?disabled=${this.busy || s.state === 'checking'}>${this.busy || s.state === 'checking' ? 'Checking…' : 'Sign in'}</button>
      </form>
    </main>`;
  }

  async #submit(event: SubmitEvent) {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    this.busy = true;
    this.error = '';
    try {
      await signIn(String(new FormData(form).get('key')));
    } catch (error) {
      this.error = messageOf(error);
      form.querySelector('input')!.select();
    } finally {
      this.busy = false;
    }
  }
}

customElements.define('wa-sign-in', WaSignIn);
declare global {
  interface HTMLElementTagNameMap {
    'wa-sign-in': WaSignIn;
  }
}
