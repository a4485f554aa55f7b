import { LitElement, css, html } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { addContact, contacts, deleteContact, groups, loadContacts, updateContact, type Contact } from './data/contacts.ts';
import { Watch, messageOf } from './data/store.ts';
import { base } from './styles.ts';
import './wa-confirm.ts';

const SEARCH_DELAY_MS = 250;

/** Contact Management: search, add, edit and delete contacts, each optionally in a group. */
export class WaContacts extends LitElement {
  static properties = { editing: { state: true }, opened: { state: true }, saving: { state: true }, formError: { state: true }, error: { state: true } };
  static styles = [base, css`.search { margin-bottom: 0.75rem; }`];

  #contacts = new Watch(this, contacts);
  #groups = new Watch(this, groups);
  /** The contact the dialog edits; undefined while adding. */
  editing?: Contact;
  /** Counts the dialog's openings: each gets a fresh form. */
  opened = 0;
  saving = false;
  formError = '';
  error = '';
  #searchTimer?: ReturnType<typeof setTimeout>;

  render() {
    const { data, error, loading, query } = this.#contacts.value;
    const groupName = new Map((this.#groups.value.data ?? []).map((g) => [g.id, g.name]));
    return html`<section class="card" aria-labelledby="contacts-heading">
      <div class="card-head">
        <h2 id="contacts-heading">Contact Management</h2>
        <button class="primary" @click=${() => this.#open()}>Add Contact</button>
      </div>
      <label class="search"
        >Search contacts
        <input type="search" placeholder="Name or number" @input=${this.#search} aria-controls="contacts-table" />
      </label>
      ${error ? html`<p class="error" role="alert">Could not load the contacts: ${error}</p>` : ''}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
      <table class="cards" id="contacts-table" aria-busy=${loading ? 'true' : 'false'}>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Number</th>
            <th scope="col">Group</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          ${
            !data
              ? html`<tr><td colspan="4" class="empty">${loading ? 'Loading contacts...' : 'Contacts could not be loaded.'}</td></tr>`
              : data.length === 0
                ? html`<tr>
                  <td colspan="4" class="empty">${query.trim() ? `No contacts match "${query.trim()}".` : 'No contacts found. Click "Add Contact" to create one.'}</td>
                </tr>`
                : data.map(
                    (c) => html`<tr>
                    <td data-label="Name">${c.name}</td>
                    <td data-label="Number"><span class="mono">${c.number}</span></td>
                    <td data-label="Group">${c.groupId ? (groupName.get(c.groupId) ?? '…') : html`<span class="muted">None</span>`}</td>
                    <td data-label="Action">
                      <div class="actions">
                        <button class="small" aria-label="Edit ${c.name}" @click=${() => this.#open(c)}>Edit</button>
                        <button class="small danger" aria-label="Delete ${c.name}" @click=${() => this.#delete(c)}>Delete</button>
                      </div>
                    </td>
                  </tr>`,
                  )
          }
        </tbody>
      </table>
      ${this.#dialog()}
      <wa-confirm></wa-confirm>
    </section>`;
  }

  #dialog() {
    const c = this.editing;
    return html`<dialog id="contact-dialog" aria-labelledby="contact-dialog-heading">
      <h2 id="contact-dialog-heading">${c ? `Edit ${c.name}` : 'Add contact'}</h2>
      ${keyed(
        this.opened,
        html`<form class="form" @submit=${this.#save}>
          <label>Name <input name="name" required maxlength="100" autocomplete="off" value=${c?.name ?? ''} /></label>
          <label
            >WhatsApp number <span class="hint">With country code (628…), or starting with 0 for Indonesia.</span>
            <input name="number" type="tel" required placeholder="628123456789" value=${c?.number ?? ''} />
          </label>
          <label
            >Group
            <select name="groupId">
              <option value="">No group</option>
              ${(this.#groups.value.data ?? []).map((g) => html`<option value=${g.id} ?selected=${g.id === c?.groupId}>${g.name}</option>`)}
            </select>
          </label>
          ${this.formError ? html`<p class="error" role="alert">${this.formError}</p>` : ''}
          <div class="dialog-actions">
            <button type="button" @click=${() => this.#dialogElement.close()}>Cancel</button>
            <button class="primary" ?disabled=${this.saving}>${this.saving ? 'Saving…' : c ? 'Save' : 'Add contact'}</button>
          </div>
        </form>`,
      )}
    </dialog>`;
  }

  get #dialogElement() {
    return this.renderRoot.querySelector<HTMLDialogElement>('#contact-dialog')!;
  }

  async #open(contact?: Contact) {
    this.editing = contact;
    this.formError = '';
    this.opened++;
    await this.updateComplete;
    this.#dialogElement.showModal();
  }

  #search(event: InputEvent) {
    const query = (event.target as HTMLInputElement).value;
    clearTimeout(this.#searchTimer);
    this.#searchTimer = setTimeout(() => void loadContacts(query), SEARCH_DELAY_MS);
  }

  async #save(event: SubmitEvent) {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const input = { name: String(form.get('name')).trim(), number: String(form.get('number')).trim(), groupId: String(form.get('groupId')) || null };
    this.saving = true;
    this.formError = '';
    try {
      await (this.editing ? updateContact(this.editing.id, input) : addContact(input));
      this.#dialogElement.close();
    } catch (error) {
      this.formError = messageOf(error);
    } finally {
      this.saving = false;
    }
  }

  async #delete(c: Contact) {
    const confirm = this.renderRoot.querySelector('wa-confirm')!;
    if (!(await confirm.ask({ heading: `Delete ${c.name}?`, message: `${c.name} (${c.number}) is removed from your contacts.`, action: 'Delete' }))) return;
    this.error = '';
    await deleteContact(c.id).catch((error) => (this.error = `Could not delete ${c.name}: ${messageOf(error)}`));
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    clearTimeout(this.#searchTimer);
  }
}

customElements.define('wa-contacts', WaContacts);
declare global {
  interface HTMLElementTagNameMap {
    'wa-contacts': WaContacts;
  }
}
